using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for social accounts (docs/api.md#routes).</summary>
public static class SocialAccountsApi
{
    public static IEndpointRouteBuilder MapSocialAccountsApi(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/v1/social-accounts")
            .RequireAuthorization(InternalPolicies.Resource("accounts"));

        // 201 for a new account; 200 when the workspace had it already (a Bluesky account connected again) and it is updated.
        accounts.MapPost("/", async Task<Results<Created<SocialAccountView>, Ok<SocialAccountView>>> (ConnectAccountRequest request, HttpContext context, SocialAccounts socialAccounts) =>
        {
            var (account, created) = await socialAccounts.ConnectAsync(InternalCaller.Current(context).WorkspaceId, request, context.RequestAborted);
            return created ? TypedResults.Created($"/v1/social-accounts/{account.Id}", account) : TypedResults.Ok(account);
        });

        // OAuth (docs/platforms.md#connecting): the platform's authorization URL for the caller's user to visit.
        accounts.MapPost("/connect", async (StartConnectRequest request, HttpContext context, OAuthConnections connections) =>
            TypedResults.Ok(await connections.StartAsync(InternalCaller.Current(context), request, context.RequestAborted)));

        // Where the platform sends the user's browser back: no API key, the signed state says whose connection it is.
        app.MapGet("/v1/oauth/callback", async (HttpContext context, OAuthConnections connections,
                string? code = null, string? state = null, string? error = null, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "error_description")] string? errorDescription = null) =>
            TypedResults.Redirect((await connections.CompleteAsync(code, state, error, errorDescription, context.RequestAborted)).ToString()))
            .Produces(StatusCodes.Status302Found)
            .RequireAuthorization(InternalPolicies.OAuthCallback);

        accounts.MapGet("/", async (HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(new { data = (await socialAccounts.ListAsync(InternalCaller.Current(context).WorkspaceId)).Accounts }));

        accounts.MapGet("/{id}", async (string id, HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(await socialAccounts.GetAsync(InternalCaller.Current(context).WorkspaceId, id)));

        accounts.MapDelete("/{id}", async (string id, HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(await socialAccounts.DisconnectAsync(InternalCaller.Current(context).WorkspaceId, id)));

        return app;
    }
}
