using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Dialects.Layers;

/// <summary>
/// Layers' scheduled-post endpoints at Layers' own paths (docs/migrating-layers.md): a Layers client changes only its
/// base URL. Thin: the core does the work; this maps its posts, statuses and errors to Layers' words, and adds the one
/// Layers rule that is stricter than ours (only a queued post is rescheduled; ours also revives a cancelled one).
/// </summary>
public static class LayersApi
{
    public const string Tag = "Layers";

    public static IEndpointRouteBuilder MapLayersApi(this IEndpointRouteBuilder app)
    {
        var posts = app.MapGroup("/v1/scheduled-posts").WithTags(Tag)
            .RequireAuthorization(InternalPolicies.Resource("posts"))
            .AddEndpointFilter(async (context, next) =>
            {
                try
                {
                    return await next(context);
                }
                catch (ApiException e)
                {
                    throw LayersErrors.Map(e);
                }
            });

        posts.MapGet("/{scheduledPostId}", async (string scheduledPostId, HttpContext context, PostReader reader) =>
            TypedResults.Ok(LayersScheduledPost.From((await reader.GetAsync(Who(context).WorkspaceId, scheduledPostId)).Post)))
            .WithSummary("Get a scheduled post (Layers)");

        posts.MapDelete("/{scheduledPostId}", async (string scheduledPostId, HttpContext context, PostCommands commands) =>
            {
                var request = await context.Request.ReadOptionalJsonAsync<LayersCancelRequest>();
                var post = (await commands.CancelAsync(Who(context), scheduledPostId, request?.Reason, ifMatch: null)).Post;
                return TypedResults.Ok(new LayersCanceled(post.Id, LayersStatus.Canceled, LayersTime.Format(post.CancelledAt ?? post.UpdatedAt)));
            })
            .Accepts<LayersCancelRequest>(isOptional: true, "application/json")
            .WithSummary("Cancel a scheduled post (Layers)");

        posts.MapPost("/{scheduledPostId}/reschedule", async (string scheduledPostId, HttpContext context, PostReader reader, PostCommands commands, TimeProvider clock) =>
            {
                string scheduledFor = await ScheduledForAsync(context.Request);
                PostRules.ParseScheduledFor(scheduledFor, clock.GetUtcNow());
                var who = Who(context);
                var current = await reader.GetAsync(who.WorkspaceId, scheduledPostId);
                if (current.Post.Status != PostStatus.Scheduled)
                {
                    throw ApiException.Conflict($"Only a queued post can be rescheduled; this one is {LayersStatus.Of(current.Post.Status)}.");
                }

                // The ETag just read: if the post left the queue meanwhile (cancelled, say), the core refuses instead of reviving it.
                var post = (await commands.RescheduleAsync(who, scheduledPostId, scheduledFor, current.ETag)).Post;
                return TypedResults.Ok(new LayersRescheduled(post.Id, LayersStatus.Of(post.Status), LayersTime.Format(post.ScheduledFor!.Value), LayersTime.Format(post.UpdatedAt)));
            })
            .Accepts<LayersRescheduleRequest>("application/json")
            .WithSummary("Reschedule a queued post (Layers)");

        return app;
    }

    private static InternalIdentity Who(HttpContext context) => InternalCaller.Current(context);

    /// <summary>The body's <c>scheduledFor</c>: Layers answers any unreadable body as a 422 on that field.</summary>
    private static async Task<string> ScheduledForAsync(HttpRequest request)
    {
        try
        {
            return (await request.ReadOptionalJsonAsync<LayersRescheduleRequest>())?.ScheduledFor
                ?? throw ApiException.Validation("scheduledFor", "scheduledFor is required.");
        }
        catch (ApiException e) when (e.Code == "BAD_REQUEST")
        {
            throw ApiException.Validation("scheduledFor", "The body must be JSON with scheduledFor, an ISO 8601 UTC time such as 2026-04-19T18:00:00Z.");
        }
    }
}
