using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Api;

public sealed record CancelPostRequest(string? Reason);

/// <summary>REST for posts (SPEC §3): parse, call <see cref="PostLifecycle"/>, return its view.</summary>
public static class PostsApi
{
    public static IEndpointRouteBuilder MapPostsApi(this IEndpointRouteBuilder app)
    {
        var posts = app.MapGroup("/v1/posts");

        posts.MapPost("/", async (CreatePostRequest request, HttpContext context, PostLifecycle lifecycle) =>
        {
            var post = await lifecycle.CreateAsync(InternalIdentityMiddleware.Current(context), request);
            return TypedResults.Created($"/v1/posts/{post.Id}", post);
        });

        posts.MapGet("/{id}", async (string id, HttpContext context, PostLifecycle lifecycle) =>
            TypedResults.Ok(await lifecycle.GetAsync(InternalIdentityMiddleware.Current(context).WorkspaceId, id)));

        posts.MapPost("/{id}/cancel", async (string id, HttpContext context, PostLifecycle lifecycle) =>
        {
            var request = await context.Request.ReadOptionalJsonAsync<CancelPostRequest>();
            return TypedResults.Ok(await lifecycle.CancelAsync(InternalIdentityMiddleware.Current(context), id, request?.Reason));
        });

        return app;
    }
}
