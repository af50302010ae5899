using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;
using GrpcPosts = ScheduledPosts.Contracts.Scheduling.V1.Posts;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>Post operations for internal callers, over the same <see cref="PostCommands"/> and <see cref="PostReader"/> as REST; each method's policy names its scope.</summary>
public sealed class PostsGrpcService(PostCommands commands, PostReader reader) : GrpcPosts.PostsBase
{
    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> CreatePost(Contracts.Scheduling.V1.CreatePostRequest request, ServerCallContext context)
    {
        var create = new Posts.CreatePostRequest(
            request.Caption,
            request.Targets.Select(t => (CreateTargetRequest?)new CreateTargetRequest(t.SocialAccountId, NullIfEmpty(t.CaptionOverride), NullIfEmpty(t.FirstComment))).ToList(),
            NullIfEmpty(request.ScheduledFor),
            NullIfEmpty(request.Timezone),
            request.Metadata.ToDictionary(),
            request.MediaIds.Select(id => (string?)id).ToList());
        return ToMessage(await commands.CreateAsync(Who(context), create));
    }

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<Post> GetPost(GetPostRequest request, ServerCallContext context)
        => ToMessage(await reader.GetAsync(Who(context).WorkspaceId, request.PostId));

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<ListPostsResponse> ListPosts(ListPostsRequest request, ServerCallContext context)
    {
        var query = new PostQuery(NullIfEmpty(request.Status), NullIfEmpty(request.Platform), NullIfEmpty(request.SocialAccountId),
            NullIfEmpty(request.ScheduledFrom), NullIfEmpty(request.ScheduledTo),
            request.Limit == 0 ? null : request.Limit.ToString(CultureInfo.InvariantCulture), NullIfEmpty(request.Cursor));
        var page = await reader.ListAsync(Who(context).WorkspaceId, query);
        var response = new ListPostsResponse { NextCursor = page.NextCursor ?? "", HasMore = page.HasMore };
        response.Posts.AddRange(page.Data.Select(p => ToMessage(new PostResult(p, ""))));
        return response;
    }

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> UpdateDraft(UpdateDraftRequest request, ServerCallContext context)
    {
        UpdatePostRequest? patch;
        try
        {
            patch = JsonSerializer.Deserialize<UpdatePostRequest>(request.PatchJson, JsonDefaults.Options);
        }
        catch (JsonException)
        {
            throw ApiException.BadRequest("patch_json is not valid JSON for this operation.");
        }

        return ToMessage(await commands.UpdateDraftAsync(Who(context), request.PostId,
            patch ?? throw ApiException.BadRequest("patch_json is required."), NullIfEmpty(request.IfMatch)));
    }

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> SchedulePost(SchedulePostRequest request, ServerCallContext context)
        => ToMessage(await commands.ScheduleAsync(Who(context), request.PostId, request.ScheduledFor, NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> PublishPost(PublishPostRequest request, ServerCallContext context)
        => ToMessage(await commands.PublishNowAsync(Who(context), request.PostId, NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> ReschedulePost(SchedulePostRequest request, ServerCallContext context)
        => ToMessage(await commands.RescheduleAsync(Who(context), request.PostId, request.ScheduledFor, NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> CancelPost(Contracts.Scheduling.V1.CancelPostRequest request, ServerCallContext context)
        => ToMessage(await commands.CancelAsync(Who(context), request.PostId, NullIfEmpty(request.Reason), NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<Post> CancelTarget(CancelTargetRequest request, ServerCallContext context)
        => ToMessage(await commands.CancelTargetAsync(Who(context), request.PostId, request.TargetId, NullIfEmpty(request.Reason), NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<JsonResponse> DeletePost(DeletePostRequest request, ServerCallContext context)
        => Json(await commands.DeleteAsync(Who(context), request.PostId, NullIfEmpty(request.IfMatch)));

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<JsonResponse> GetPostEvents(GetPostRequest request, ServerCallContext context)
        => Json(new { data = await reader.AuditLogAsync(Who(context).WorkspaceId, request.PostId) });

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());

    private static Post ToMessage(PostResult result) => new()
    {
        Id = result.Post.Id,
        Status = result.Post.Status,
        ScheduleVersion = result.Post.ScheduleVersion,
        Json = JsonSerializer.Serialize(result.Post, JsonDefaults.Options),
        Etag = result.ETag,
    };

    private static JsonResponse Json<T>(T value) => new() { Json = JsonSerializer.Serialize(value, JsonDefaults.Options) };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
