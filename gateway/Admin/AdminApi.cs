using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.Workspaces;

namespace ScheduledPosts.Gateway.Admin;

/// <summary>
/// <c>/admin</c>: operator endpoints behind the admin token (<see cref="AdminAuthenticationHandler"/>), mapped only when a
/// deployment sets one: without it there is no admin API to find.
/// </summary>
public static class AdminApi
{
    public const string SecurityScheme = "adminToken";

    /// <summary>The authorization policy of the admin API: the admin token's scheme, authenticated.</summary>
    public const string Policy = "admin";

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        if (!app.ServiceProvider.GetRequiredService<IOptions<AdminOptions>>().Value.Enabled)
        {
            return app;
        }

        var admin = app.MapGroup("/admin").WithTags("admin").RequireAuthorization(Policy);
        admin.MapPost("/workspaces", CreateWorkspaceAsync)
            .WithName("createWorkspace")
            .WithSummary("Create a workspace with its first owner key")
            .WithDescription("Needs the admin token (SP_ADMIN_TOKEN) as a bearer token. The owner key's secret is in this response only. Names are unique (409 otherwise).");
        admin.MapGet("/status", async (AdminStatus status, CancellationToken ct) => TypedResults.Ok(await status.GetAsync(ct)))
            .WithName("getAdminStatus")
            .WithSummary("Summarise queues, backlogs, lag and unhealthy webhook endpoints")
            .WithDescription("Needs the admin token (SP_ADMIN_TOKEN) as a bearer token. Each service's own status, measured now: `scheduling` (RabbitMQ queue depths with the error queues' total, the outbox due and its oldest age, targets scheduled, publishing and overdue, due→dispatched and due→claimed lag p50/p95/p99 over the recent window) and `webhooks` (pending and due deliveries with their oldest ages, endpoints disabled and failing). Counts only: no workspace, endpoint or post ids. A service that does not answer is null and listed under `unavailable`. See docs/operations.md#admin-status.");
        return app;
    }

    private static async Task<Created<CreatedWorkspaceJson>> CreateWorkspaceAsync(CreateWorkspaceBody body, WorkspaceRegistry registry, CancellationToken ct)
    {
        var (workspace, key) = await registry.CreateAsync(body.Name, ct);
        return TypedResults.Created($"/admin/workspaces/{workspace.Id}",
            new CreatedWorkspaceJson(workspace.Id, workspace.Name, workspace.CreatedAt, MintedApiKeyJson.From(key)));
    }
}

public sealed record CreateWorkspaceBody(string? Name);

/// <summary>The workspace and its first owner key, whose <c>secret</c> is shown only here.</summary>
public sealed record CreatedWorkspaceJson(string Id, string Name, DateTimeOffset CreatedAt, MintedApiKeyJson OwnerKey);
