using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for posts (SPEC §3): parse, call <see cref="PostLifecycle"/>, return its view with its ETag.</summary>
public static class PostsApi
{
    public static IEndpointRouteBuilder MapPostsApi(this IEndpointRouteBuilder app)
    {
        var posts = app.MapGroup("/v1/posts").WithTags("Posts");

        posts.MapPost("/", async (CreatePostRequest request, HttpContext context, PostLifecycle lifecycle) =>
        {
            var result = await lifecycle.CreateAsync(Who(context), request);
            return WithETag(context, result, r => TypedResults.Created($"/v1/posts/{r.Id}", r));
        });

        posts.MapGet("/", async ([AsParameters] PostQuery query, HttpContext context, PostLifecycle lifecycle) =>
            TypedResults.Ok(await lifecycle.ListAsync(Who(context).WorkspaceId, query)));

        posts.MapGet("/{id}", async (string id, HttpContext context, PostLifecycle lifecycle) =>
            WithETag(context, await lifecycle.GetAsync(Who(context).WorkspaceId, id), TypedResults.Ok));

        posts.MapPatch("/{id}", async (string id, UpdatePostRequest request, HttpContext context, PostLifecycle lifecycle) =>
            WithETag(context, await lifecycle.UpdateDraftAsync(Who(context), id, request, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/schedule", async (string id, ScheduleRequest request, HttpContext context, PostLifecycle lifecycle) =>
            WithETag(context, await lifecycle.ScheduleAsync(Who(context), id, request.ScheduledFor, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/publish", async (string id, HttpContext context, PostLifecycle lifecycle) =>
            WithETag(context, await lifecycle.PublishNowAsync(Who(context), id, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/reschedule", async (string id, ScheduleRequest request, HttpContext context, PostLifecycle lifecycle) =>
            WithETag(context, await lifecycle.RescheduleAsync(Who(context), id, request.ScheduledFor, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/cancel", async (string id, HttpContext context, PostLifecycle lifecycle) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<CancelRequest>();
            return WithETag(context, await lifecycle.CancelAsync(Who(context), id, request?.Reason, IfMatch(context)), TypedResults.Ok);
        });

        posts.MapPost("/{id}/targets/{targetId}/cancel", async (string id, string targetId, HttpContext context, PostLifecycle lifecycle) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<CancelRequest>();
            return WithETag(context, await lifecycle.CancelTargetAsync(Who(context), id, targetId, request?.Reason, IfMatch(context)), TypedResults.Ok);
        });

        posts.MapPost("/{id}/retry", async (string id, HttpContext context, PostLifecycle lifecycle) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<RetryRequest>();
            return WithETag(context, await lifecycle.RetryAsync(Who(context), id, request?.IncludeUnknown ?? false, IfMatch(context)), TypedResults.Ok);
        });

        posts.MapDelete("/{id}", async (string id, HttpContext context, PostLifecycle lifecycle) =>
            TypedResults.Ok(await lifecycle.DeleteAsync(Who(context), id, IfMatch(context))));

        posts.MapGet("/{id}/events", async (string id, HttpContext context, PostLifecycle lifecycle) =>
            TypedResults.Ok(new { data = await lifecycle.AuditLogAsync(Who(context).WorkspaceId, id) }));

        return app;
    }

    private static InternalIdentity Who(HttpContext context) => InternalIdentityMiddleware.Current(context);

    private static string? IfMatch(HttpContext context)
        => context.Request.Headers.IfMatch.Count == 0 ? null : context.Request.Headers.IfMatch.ToString();

    private static T WithETag<T>(HttpContext context, PostResult result, Func<PostView, T> respond)
    {
        context.Response.Headers.ETag = result.ETag;
        return respond(result.Post);
    }
}
