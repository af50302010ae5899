using ScheduledPosts.Scheduling.Media;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for media (docs/api.md#routes): a streamed multipart upload, and its metadata.</summary>
public static class MediaApi
{
    public static IEndpointRouteBuilder MapMediaApi(this IEndpointRouteBuilder app)
    {
        var media = app.MapGroup("/v1/media").WithTags("Media")
            .RequireAuthorization(InternalPolicies.Resource("posts"));

        media.MapPost("/", async (HttpContext context, MediaLibrary library) =>
        {
            var item = await library.UploadAsync(InternalCaller.Current(context).WorkspaceId, context.Request, context.RequestAborted);
            return TypedResults.Created($"/v1/media/{item.Id}", item);
        }).DisableAntiforgery();

        media.MapGet("/{id}", async (string id, HttpContext context, MediaLibrary library) =>
            TypedResults.Ok(await library.GetAsync(InternalCaller.Current(context).WorkspaceId, id)));

        return app;
    }
}
