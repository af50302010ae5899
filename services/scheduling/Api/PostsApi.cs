using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for posts (docs/api.md#routes): parse, call <see cref="PostCommands"/> or <see cref="PostReader"/>, return its view with its ETag.</summary>
public static class PostsApi
{
    public static IEndpointRouteBuilder MapPostsApi(this IEndpointRouteBuilder app)
    {
        var posts = app.MapGroup("/v1/posts").WithTags("Posts")
            .RequireAuthorization(InternalPolicies.Resource("posts"));

        posts.MapPost("/", async (CreatePostRequest request, HttpContext context, PostCommands commands) =>
        {
            var result = await commands.CreateAsync(Who(context), request);
            return WithETag(context, result, r => TypedResults.Created($"/v1/posts/{r.Id}", r));
        });

        posts.MapGet("/", async ([AsParameters] PostQuery query, HttpContext context, PostReader reader) =>
            TypedResults.Ok(await reader.ListAsync(Who(context).WorkspaceId, query)));

        posts.MapPost("/bulk-cancel", async (BulkCancelRequest request, HttpContext context, PostBulk bulk) =>
                TypedResults.Ok(await bulk.CancelAsync(Who(context), request)))
            .WithSummary("Cancel many posts")
            .WithDescription("Selects posts by ids (1–1,000) or by filter (the filters of GET /v1/posts; at most 10,000 matches, else 422) and cancels each by the rules of POST /v1/posts/{id}/cancel, each in its own transaction. 200 with one result per post ({id, ok, status} or {id, ok: false, error: {code, message}}) and a summary. Honors Idempotency-Key.");

        posts.MapPost("/bulk-reschedule", async (BulkRescheduleRequest request, HttpContext context, PostBulk bulk) =>
                TypedResults.Ok(await bulk.RescheduleAsync(Who(context), request)))
            .WithSummary("Reschedule many posts")
            .WithDescription("Moves each selected post (ids or filter, as bulk-cancel) to scheduledFor, or by shiftSeconds from its own time, by the rules of POST /v1/posts/{id}/reschedule. Per-post results and a summary. Honors Idempotency-Key.");

        posts.MapPost("/bulk-delete", async (BulkDeleteRequest request, HttpContext context, PostBulk bulk) =>
                TypedResults.Ok(await bulk.DeleteAsync(Who(context), request)))
            .WithSummary("Delete many posts")
            .WithDescription("Deletes each selected post (ids or filter, as bulk-cancel) by the rules of DELETE /v1/posts/{id}; a deleted post's result has status \"deleted\". Per-post results and a summary. Honors Idempotency-Key.");

        posts.MapGet("/{id}", async (string id, HttpContext context, PostReader reader) =>
            WithETag(context, await reader.GetAsync(Who(context).WorkspaceId, id), TypedResults.Ok));

        posts.MapPatch("/{id}", async (string id, UpdatePostRequest request, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.UpdateDraftAsync(Who(context), id, request, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/schedule", async (string id, ScheduleRequest request, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.ScheduleAsync(Who(context), id, request.ScheduledFor, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/publish", async (string id, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.PublishNowAsync(Who(context), id, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/reschedule", async (string id, ScheduleRequest request, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.RescheduleAsync(Who(context), id, request.ScheduledFor, IfMatch(context)), TypedResults.Ok));

        posts.MapPost("/{id}/cancel", async (string id, HttpContext context, PostCommands commands) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<CancelRequest>();
            return WithETag(context, await commands.CancelAsync(Who(context), id, request?.Reason, IfMatch(context)), TypedResults.Ok);
        }).Accepts<CancelRequest>(isOptional: true, "application/json");

        posts.MapPost("/{id}/targets/{targetId}/cancel", async (string id, string targetId, HttpContext context, PostCommands commands) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<CancelRequest>();
            return WithETag(context, await commands.CancelTargetAsync(Who(context), id, targetId, request?.Reason, IfMatch(context)), TypedResults.Ok);
        }).Accepts<CancelRequest>(isOptional: true, "application/json");

        posts.MapPost("/{id}/retry", async (string id, HttpContext context, PostCommands commands) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<RetryRequest>();
            return WithETag(context, await commands.RetryAsync(Who(context), id, request?.IncludeUnknown ?? false, IfMatch(context)), TypedResults.Ok);
        }).Accepts<RetryRequest>(isOptional: true, "application/json");

        posts.MapPost("/{id}/approve", async (string id, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.ApproveAsync(Who(context), id, IfMatch(context)), TypedResults.Ok))
            .WithSummary("Approve a post")
            .WithDescription("needs_approval → scheduled at the time its author asked for. Needs the posts:approve scope (owners, admins). 409 SCHEDULE_IN_PAST once that time has passed: reschedule it or publish it now.");

        posts.MapPost("/{id}/decline", async (string id, DeclineRequest request, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.DeclineAsync(Who(context), id, request.Reason, IfMatch(context)), TypedResults.Ok))
            .WithSummary("Decline a post")
            .WithDescription("needs_approval → declined, with the reason (1–1024 characters) its author reads in the audit log and the post.declined event. The author may edit it and schedule it again. Needs the posts:approve scope (owners, admins).");

        posts.MapPost("/{id}/unpublish", async (string id, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.UnpublishAsync(Who(context), id, null, IfMatch(context)), TypedResults.Ok))
            .WithSummary("Unpublish a post")
            .WithDescription("Removes the published copies of the post from the platforms that allow deletion; the targets stay published until their platform confirms, then become unpublished (event target.unpublished). 409 UNSUPPORTED_BY_PLATFORM when none of them does, CONFLICT when nothing is published.");

        posts.MapPost("/{id}/targets/{targetId}/unpublish", async (string id, string targetId, HttpContext context, PostCommands commands) =>
            WithETag(context, await commands.UnpublishAsync(Who(context), id, targetId, IfMatch(context)), TypedResults.Ok))
            .WithSummary("Unpublish one target")
            .WithDescription("Removes one published target's copy from its platform. 409 UNSUPPORTED_BY_PLATFORM when the platform does not allow deletion, CONFLICT when the target is not published (or is being removed already).");

        posts.MapDelete("/{id}", async (string id, HttpContext context, PostCommands commands) =>
            TypedResults.Ok(await commands.DeleteAsync(Who(context), id, IfMatch(context))));

        posts.MapGet("/{id}/events", async (string id, HttpContext context, PostReader reader) =>
            TypedResults.Ok(new { data = await reader.AuditLogAsync(Who(context).WorkspaceId, id) }));

        return app;
    }

    private static InternalIdentity Who(HttpContext context) => InternalCaller.Current(context);

    private static string? IfMatch(HttpContext context)
        => context.Request.Headers.IfMatch.Count == 0 ? null : context.Request.Headers.IfMatch.ToString();

    private static T WithETag<T>(HttpContext context, PostResult result, Func<PostView, T> respond)
    {
        context.Response.Headers.ETag = result.ETag;
        return respond(result.Post);
    }
}
