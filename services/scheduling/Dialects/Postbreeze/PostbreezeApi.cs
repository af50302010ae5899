using System.Text.RegularExpressions;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Dialects.Postbreeze;

/// <summary>
/// Postbreeze's post endpoints under <c>/postbreeze/api/v1</c> (docs/migrating-postbreeze.md): its post shape with
/// uppercase statuses and platforms, and its error body <c>{statusCode, code, message, requestId}</c>.
/// </summary>
public static partial class PostbreezeApi
{
    public const string Tag = "Postbreeze";
    public const string BasePath = "/postbreeze/api/v1";

    public static IEndpointRouteBuilder MapPostbreezeApi(this IEndpointRouteBuilder app)
    {
        var posts = app.MapGroup($"{BasePath}/posts").WithTags(Tag)
            .RequireAuthorization(InternalPolicies.Resource("posts"))
            .AddEndpointFilter(async (context, next) =>
            {
                try
                {
                    return await next(context);
                }
                catch (ApiException e)
                {
                    return PostbreezeError.Result(context.HttpContext, e);
                }
                catch (Exception e) when (DatabaseOutage.Is(e))
                {
                    // Nothing was committed: retryable, in this dialect's error body rather than our envelope.
                    return PostbreezeError.Result(context.HttpContext, new ApiException(StatusCodes.Status503ServiceUnavailable, "UNAVAILABLE", "The service cannot reach its database; nothing changed, try again shortly."));
                }
            });

        posts.MapGet("/{postId}", async (string postId, HttpContext context, PostReader reader) =>
                TypedResults.Ok(PostbreezePost.From((await reader.GetAsync(Who(context).WorkspaceId, PostId(postId))).Post)))
            .WithSummary("Get a post (Postbreeze)")
            .WithPostbreezeErrors();

        posts.MapPost("/{postId}/cancel", async (string postId, HttpContext context, PostCommands commands) =>
                TypedResults.Ok(PostbreezePost.From((await commands.CancelAsync(Who(context), PostId(postId), reason: null, ifMatch: null)).Post)))
            .WithSummary("Cancel a scheduled post (Postbreeze)")
            .WithPostbreezeErrors();

        posts.MapDelete("/{postId}", async (string postId, HttpContext context, PostCommands commands) =>
            {
                var deleted = await commands.DeleteAsync(Who(context), PostId(postId), ifMatch: null);
                return TypedResults.Ok(new PostbreezeDeleted(deleted.Id, deleted.Deleted));
            })
            .WithSummary("Delete a post (Postbreeze)")
            .WithPostbreezeErrors();

        return app;
    }

    /// <summary>The error bodies this dialect answers, documented (our envelope is documented for the rest).</summary>
    private static RouteHandlerBuilder WithPostbreezeErrors(this RouteHandlerBuilder endpoint) => endpoint
        .Produces<PostbreezeError>(StatusCodes.Status400BadRequest)
        .Produces<PostbreezeError>(StatusCodes.Status404NotFound)
        .Produces<PostbreezeError>(StatusCodes.Status409Conflict)
        .Produces<PostbreezeError>(StatusCodes.Status503ServiceUnavailable);

    private static InternalIdentity Who(HttpContext context) => InternalCaller.Current(context);

    /// <summary>
    /// Postbreeze validates the path's id before anything else (its 400 <c>VALIDATION_FAILED</c>): one that cannot be a
    /// post's id — ours are <c>post_</c> and a 26-character ULID — is refused as malformed rather than not found.
    /// </summary>
    private static string PostId(string postId)
        => PostIdShape().IsMatch(postId) ? postId : throw ApiException.Validation("postId", "postId must be a post id: post_ followed by 26 letters and digits.");

    [GeneratedRegex("^post_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    private static partial Regex PostIdShape();
}

public sealed record PostbreezeDeleted(string Id, bool Deleted);

/// <summary>Postbreeze's error body. Our 422 is its 400 <c>VALIDATION_FAILED</c>; our finer 409s its <c>CONFLICT</c>.</summary>
public sealed record PostbreezeError(int StatusCode, string Code, string Message, string RequestId)
{
    public static IResult Result(HttpContext context, ApiException error)
    {
        var (status, code) = error.Code switch
        {
            "VALIDATION" or "BAD_REQUEST" => (StatusCodes.Status400BadRequest, "VALIDATION_FAILED"),
            "CANCEL_WINDOW_CLOSED" or "PRECONDITION_FAILED" => (StatusCodes.Status409Conflict, "CONFLICT"),
            "UNAUTHENTICATED" => (error.Status, "UNAUTHORIZED"),
            "FORBIDDEN_SCOPE" => (error.Status, "FORBIDDEN"),
            _ => (error.Status, error.Code),
        };
        return TypedResults.Json(new PostbreezeError(status, code, error.Message, RequestIds.Get(context)), JsonDefaults.Options, statusCode: status);
    }
}
