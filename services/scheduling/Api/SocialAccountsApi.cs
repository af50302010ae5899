using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>REST for social accounts (docs/api.md#routes).</summary>
public static class SocialAccountsApi
{
    public static IEndpointRouteBuilder MapSocialAccountsApi(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/v1/social-accounts")
            .RequireAuthorization(InternalPolicies.Resource("accounts"));

        accounts.MapPost("/", async (ConnectAccountRequest request, HttpContext context, SocialAccounts socialAccounts) =>
        {
            var account = await socialAccounts.ConnectAsync(InternalCaller.Current(context).WorkspaceId, request, context.RequestAborted);
            return TypedResults.Created($"/v1/social-accounts/{account.Id}", account);
        });

        accounts.MapGet("/", async (HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(new { data = await socialAccounts.ListAsync(InternalCaller.Current(context).WorkspaceId) }));

        accounts.MapGet("/{id}", async (string id, HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(await socialAccounts.GetAsync(InternalCaller.Current(context).WorkspaceId, id)));

        accounts.MapDelete("/{id}", async (string id, HttpContext context, SocialAccounts socialAccounts) =>
            TypedResults.Ok(await socialAccounts.DisconnectAsync(InternalCaller.Current(context).WorkspaceId, id)));

        return app;
    }
}
