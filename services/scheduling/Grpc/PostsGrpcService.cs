using System.Text.Json;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;
using GrpcPosts = ScheduledPosts.Contracts.Scheduling.V1.Posts;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>Post operations for internal callers, over the same <see cref="PostLifecycle"/> as REST.</summary>
public sealed class PostsGrpcService(PostLifecycle lifecycle) : GrpcPosts.PostsBase
{
    public override async Task<Post> CreatePost(Contracts.Scheduling.V1.CreatePostRequest request, ServerCallContext context)
    {
        var create = new Posts.CreatePostRequest(
            request.Caption,
            request.Targets.Select(t => new CreateTargetRequest(t.SocialAccountId, NullIfEmpty(t.CaptionOverride), null)).ToList(),
            NullIfEmpty(request.ScheduledFor),
            NullIfEmpty(request.Timezone),
            request.Metadata.ToDictionary(),
            null);
        return ToMessage(await lifecycle.CreateAsync(Who(context), create));
    }

    public override async Task<Post> GetPost(GetPostRequest request, ServerCallContext context)
        => ToMessage(await lifecycle.GetAsync(Who(context).WorkspaceId, request.PostId));

    public override async Task<Post> CancelPost(CancelPostRequest request, ServerCallContext context)
        => ToMessage(await lifecycle.CancelAsync(Who(context), request.PostId, NullIfEmpty(request.Reason)));

    private static InternalIdentity Who(ServerCallContext context) => InternalIdentityMiddleware.Current(context.GetHttpContext());

    private static Post ToMessage(PostView view) => new()
    {
        Id = view.Id,
        Status = view.Status,
        ScheduleVersion = view.ScheduleVersion,
        Json = JsonSerializer.Serialize(view, JsonDefaults.Options),
    };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
