using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using static ScheduledPosts.Scheduling.Grpc.Messages;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>
/// Posts for internal callers (scheduling.proto), over the same <see cref="PostCommands"/> and <see cref="PostReader"/>
/// as REST: translate the message, call the core, translate its view. Each method's policy names its scope; errors are
/// mapped once, by <see cref="ServiceDefaults.Messaging.ApiErrorInterceptor"/>.
/// </summary>
public sealed class PostsGrpcService(PostCommands commands, PostReader reader, PostBulk bulk) : V1.Posts.PostsBase
{
    private const int MaxPageSize = 100;

    /// <summary>The draft fields <c>UpdateDraft</c>'s mask may name.</summary>
    private static readonly string[] DraftFields = ["caption", "targets", "timezone", "metadata", "media_ids"];

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> CreatePost(V1.CreatePostRequest request, ServerCallContext context)
    {
        var create = new CreatePostRequest(
            request.Caption,
            request.Targets.Select(TargetSpec).ToList(),
            Rfc3339(request.ScheduledFor, "scheduled_for"),
            NullIfEmpty(request.Timezone),
            request.Metadata.ToDictionary(),
            request.MediaIds.Select(id => (string?)id).ToList(),
            request.Queue);
        return Post(await commands.CreateAsync(Who(context), create));
    }

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<V1.Post> GetPost(V1.GetPostRequest request, ServerCallContext context)
        => Post(await reader.GetAsync(Who(context).WorkspaceId, request.PostId));

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<V1.ListPostsResponse> ListPosts(V1.ListPostsRequest request, ServerCallContext context)
    {
        if (request.PageSize < 0)
        {
            throw ApiException.Validation("page_size", "page_size must not be negative.");
        }

        var statuses = request.Statuses.Select((s, i) => PostStatusName(s)
            ?? throw ApiException.Validation($"statuses[{i}]", $"statuses[{i}] must be a post status other than POST_STATUS_UNSPECIFIED.")).ToList();
        var query = new PostQuery(
            statuses.Count == 0 ? null : string.Join(',', statuses),
            NullIfEmpty(request.Platform),
            NullIfEmpty(request.SocialAccountId),
            Rfc3339(request.ScheduledFrom, "scheduled_from"),
            Rfc3339(request.ScheduledTo, "scheduled_to"),
            // AIP-158: a page size above the maximum is taken as the maximum.
            request.PageSize == 0 ? null : Math.Min(request.PageSize, MaxPageSize).ToString(CultureInfo.InvariantCulture),
            NullIfEmpty(request.PageToken));
        PostPage page;
        try
        {
            page = await reader.ListAsync(Who(context).WorkspaceId, query);
        }
        catch (ApiException error) when (error.Issues is [{ Path: "cursor" }])
        {
            throw ApiException.Validation("page_token", "page_token is not one this API returned.");
        }

        var response = new V1.ListPostsResponse { NextPageToken = page.NextCursor ?? "" };
        // The list carries no ETags (as over REST); GetPost gives one.
        response.Posts.AddRange(page.Data.Select(p => Messages.Post(p, "")));
        return response;
    }

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> UpdateDraft(V1.UpdateDraftRequest request, ServerCallContext context)
    {
        var draft = request.Post ?? throw ApiException.Validation("post", "post is required: the draft's id and new content.");
        if (request.UpdateMask?.Paths.FirstOrDefault(p => !DraftFields.Contains(p)) is { } unknown)
        {
            throw ApiException.Validation("update_mask", $"update_mask may name only {string.Join(", ", DraftFields)}, not '{unknown}'.");
        }

        // AIP-134: without a mask, every field the caller set.
        bool Updates(string field, bool isSet) => request.UpdateMask is { } mask ? mask.Paths.Contains(field) : isSet;
        var patch = new UpdatePostRequest(
            Updates("caption", draft.Caption.Length > 0) ? draft.Caption : null,
            Updates("targets", draft.Targets.Count > 0) ? draft.Targets.Select(TargetSpec).ToList() : null,
            Updates("timezone", draft.Timezone.Length > 0) ? draft.Timezone : null,
            Updates("metadata", draft.Metadata.Count > 0) ? draft.Metadata.ToDictionary() : null,
            Updates("media_ids", draft.MediaIds.Count > 0) ? draft.MediaIds.Select(id => (string?)id).ToList() : null);
        try
        {
            return Post(await commands.UpdateDraftAsync(Who(context), draft.Id, patch, NullIfEmpty(request.Etag)));
        }
        catch (ApiException error) when (error.Code == "VALIDATION" && error.Issues is { Count: > 0 } issues)
        {
            // The rules name the draft's fields; in this request they are fields of post.
            throw ApiException.Validation(issues.Select(i => i with { Path = $"post.{i.Path}" }).ToList());
        }
    }

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> SchedulePost(V1.SchedulePostRequest request, ServerCallContext context)
        => Post(await commands.ScheduleAsync(Who(context), request.PostId, Rfc3339(request.ScheduledFor, "scheduled_for"), NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> PublishPost(V1.PublishPostRequest request, ServerCallContext context)
        => Post(await commands.PublishNowAsync(Who(context), request.PostId, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> ReschedulePost(V1.ReschedulePostRequest request, ServerCallContext context)
        => Post(await commands.RescheduleAsync(Who(context), request.PostId, Rfc3339(request.ScheduledFor, "scheduled_for"), NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> CancelPost(V1.CancelPostRequest request, ServerCallContext context)
        => Post(await commands.CancelAsync(Who(context), request.PostId, NullIfEmpty(request.Reason), NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> CancelTarget(V1.CancelTargetRequest request, ServerCallContext context)
        => Post(await commands.CancelTargetAsync(Who(context), request.PostId, request.TargetId, NullIfEmpty(request.Reason), NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> RetryPost(V1.RetryPostRequest request, ServerCallContext context)
        => Post(await commands.RetryAsync(Who(context), request.PostId, request.IncludeUnknown, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> UnpublishPost(V1.UnpublishPostRequest request, ServerCallContext context)
        => Post(await commands.UnpublishAsync(Who(context), request.PostId, null, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> UnpublishTarget(V1.UnpublishTargetRequest request, ServerCallContext context)
        => Post(await commands.UnpublishAsync(Who(context), request.PostId, request.TargetId, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.DeletePostResponse> DeletePost(V1.DeletePostRequest request, ServerCallContext context)
        => Deleted(await commands.DeleteAsync(Who(context), request.PostId, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> ApprovePost(V1.ApprovePostRequest request, ServerCallContext context)
        => Post(await commands.ApproveAsync(Who(context), request.PostId, NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.Post> DeclinePost(V1.DeclinePostRequest request, ServerCallContext context)
        => Post(await commands.DeclineAsync(Who(context), request.PostId, NullIfEmpty(request.Reason), NullIfEmpty(request.Etag)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override Task<V1.BatchPostsResponse> BatchCancelPosts(V1.BatchCancelPostsRequest request, ServerCallContext context)
        => BatchAsync(() => bulk.CancelAsync(Who(context), new BulkCancelRequest(Ids(request.PostIds), Filter(request.Filter), NullIfEmpty(request.Reason))));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override Task<V1.BatchPostsResponse> BatchReschedulePosts(V1.BatchReschedulePostsRequest request, ServerCallContext context)
        => BatchAsync(() => bulk.RescheduleAsync(Who(context), new BulkRescheduleRequest(Ids(request.PostIds), Filter(request.Filter),
            request.WhenCase == V1.BatchReschedulePostsRequest.WhenOneofCase.ScheduledFor ? Rfc3339(request.ScheduledFor, "scheduledFor") : null,
            request.WhenCase == V1.BatchReschedulePostsRequest.WhenOneofCase.ShiftSeconds ? request.ShiftSeconds : null)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override Task<V1.BatchPostsResponse> BatchDeletePosts(V1.BatchDeletePostsRequest request, ServerCallContext context)
        => BatchAsync(() => bulk.DeleteAsync(Who(context), new BulkDeleteRequest(Ids(request.PostIds), Filter(request.Filter))));

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<V1.ListPostEventsResponse> ListPostEvents(V1.ListPostEventsRequest request, ServerCallContext context)
    {
        var (events, next) = await reader.AuditLogAsync(Who(context).WorkspaceId, request.PostId, PageRequest.Parse(request.PageSize, request.PageToken));
        var response = new V1.ListPostEventsResponse { NextPageToken = next ?? "" };
        response.Events.AddRange(events.Select(AuditEvent));
        return response;
    }

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());

    private static V1.Post Post(PostResult result) => Messages.Post(result.Post, result.ETag);

    /// <summary>A batch call: the core names the REST request's fields in its validation errors; here they are the proto's.</summary>
    private static async Task<V1.BatchPostsResponse> BatchAsync(Func<Task<BulkResult>> call)
    {
        try
        {
            return Batch(await call());
        }
        catch (ApiException error) when (error.Code == "VALIDATION" && error.Issues is { Count: > 0 } issues)
        {
            throw ApiException.Validation(issues.Select(i => i with { Path = BatchFieldPath(i.Path) }).ToList());
        }
    }
}
