using Microsoft.AspNetCore.Mvc;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Dialects.PostPost;

/// <summary>
/// PostPost's post-group endpoints at its paths (docs/migrating-postpost.md): a post group is our post, its platform
/// posts our targets. Delete answers <c>{"success": true}</c> and a 404 once the group is gone; errors are
/// <c>{"error": message}</c>.
/// </summary>
public static class PostPostApi
{
    public const string Tag = "PostPost";

    public static IEndpointRouteBuilder MapPostPostApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags(Tag)
            .RequireAuthorization(InternalPolicies.Resource("posts"))
            .AddEndpointFilter(async (context, next) =>
            {
                try
                {
                    return await next(context);
                }
                catch (ApiException e)
                {
                    return PostPostError.Result(e);
                }
                catch (Exception e) when (DatabaseOutage.Is(e))
                {
                    // Nothing was committed. PostPost's table has one row for this, a 500 its clients retry (ours
                    // natively is a 503 UNAVAILABLE); its words for a delete, ours for the reads.
                    return PostPostError.Outage(context.HttpContext.Request.Method == HttpMethods.Delete
                        ? "Failed to delete post group"
                        : "The service cannot reach its database; nothing changed, try again shortly.");
                }
            });

        api.MapDelete("/delete-post/{postGroupId}", async (string postGroupId, HttpContext context, PostCommands commands) =>
            {
                await commands.DeleteAsync(Who(context), postGroupId, ifMatch: null);
                return TypedResults.Ok(new PostPostDeleted(true));
            })
            .WithSummary("Delete a post group (PostPost)")
            .WithPostPostErrors();

        api.MapGet("/get-post/{postGroupId}", async (string postGroupId, HttpContext context, PostReader reader) =>
                TypedResults.Ok(PostPostGroup.From((await reader.GetAsync(Who(context).WorkspaceId, postGroupId)).Post)))
            .WithSummary("Get a post group (PostPost)")
            .WithPostPostErrors();

        api.MapGet("/list-posts", async (
                [FromQuery] string? status, [FromQuery] string? platform, [FromQuery] string? page, [FromQuery] string? limit,
                HttpContext context, PostReader reader) =>
                TypedResults.Ok(await PostPostList.ReadAsync(reader, Who(context).WorkspaceId, status, platform, page, limit)))
            .WithSummary("List post groups (PostPost)")
            .WithPostPostErrors();

        return app;
    }

    /// <summary>The error bodies this dialect answers, documented (our envelope is documented for the rest).</summary>
    private static RouteHandlerBuilder WithPostPostErrors(this RouteHandlerBuilder endpoint) => endpoint
        .Produces<PostPostError>(StatusCodes.Status400BadRequest)
        .Produces<PostPostError>(StatusCodes.Status404NotFound)
        .Produces<PostPostError>(StatusCodes.Status409Conflict)
        .Produces<PostPostError>(StatusCodes.Status412PreconditionFailed)
        .Produces<PostPostError>(StatusCodes.Status500InternalServerError);

    private static InternalIdentity Who(HttpContext context) => InternalCaller.Current(context);
}
