using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.Scheduling.Queues;
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

        accounts.MapPut("/{id}/queue", async (string id, UpdateQueueRequest request, HttpContext context, PostingQueues queues) =>
            TypedResults.Ok(await queues.UpdateAsync(InternalCaller.Current(context).WorkspaceId, id, request)))
            .WithSummary("Set the account's posting queue")
            .WithDescription("Weekly slots ({day: mon..sun, time: HH:mm}, at most 100) in an IANA timezone; replaces the queue (an empty list empties it). POST /v1/posts with queue: true takes the earliest slot free in every target account's queue.");

        accounts.MapGet("/{id}/queue", async (string id, HttpContext context, PostingQueues queues) =>
            TypedResults.Ok(await queues.GetAsync(InternalCaller.Current(context).WorkspaceId, id)))
            .WithSummary("Get the account's posting queue")
            .WithDescription("An account without a queue has a null timezone and no slots.");

        accounts.MapGet("/{id}/queue/next", async (string id, HttpContext context, PostingQueues queues, int count = 10, string? from = null) =>
            TypedResults.Ok(await queues.NextAsync(InternalCaller.Current(context).WorkspaceId, id, count, PostQuery.Instant(from, "from"))))
            .WithSummary("List the next free slots of the account's queue")
            .WithDescription("Up to count (1-100, default 10) instants in UTC within 90 days after from (an RFC 3339 instant up to 366 days ahead; default and at the earliest now), daylight saving time resolved in the queue's zone: a slot no post of the account is scheduled at.");

        return app;
    }
}
