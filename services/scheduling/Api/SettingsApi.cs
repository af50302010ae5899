using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for the workspace's scheduling settings: the publish lead and the cancel cutoff.</summary>
public static class SettingsApi
{
    public static IEndpointRouteBuilder MapSettingsApi(this IEndpointRouteBuilder app)
    {
        var settings = app.MapGroup("/v1/scheduling-settings").WithTags("Settings")
            .RequireAuthorization(InternalPolicies.Resource("settings"));

        settings.MapGet("/", async (HttpContext context, WorkspaceSettings workspaceSettings) =>
            TypedResults.Ok(await workspaceSettings.GetAsync(InternalCaller.Current(context).WorkspaceId)));

        settings.MapPatch("/", async (UpdateWorkspaceSettingsRequest request, HttpContext context, WorkspaceSettings workspaceSettings) =>
            TypedResults.Ok(await workspaceSettings.UpdateAsync(InternalCaller.Current(context).WorkspaceId, request)));

        return app;
    }
}
