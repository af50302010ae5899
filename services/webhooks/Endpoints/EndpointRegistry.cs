using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>Creates and reads a workspace's webhook endpoints; the one core behind REST and gRPC.</summary>
public sealed class EndpointRegistry(NpgsqlDataSource dataSource, IOptions<WebhookOptions> options, TimeProvider clock)
{
    public const string ReadScope = "webhooks:read";
    public const string WriteScope = "webhooks:write";

    public async Task<CreatedEndpoint> CreateAsync(InternalIdentity caller, string? url, IReadOnlyList<string>? events, string? description, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        var issues = EndpointRules.Validate(url, events, description, options.Value);
        if (issues.Count > 0)
        {
            throw ApiException.Validation(issues);
        }

        var endpoint = new WebhookEndpoint(
            Ids.New("we"), caller.WorkspaceId, url!, [.. events!.Distinct(StringComparer.Ordinal)],
            string.IsNullOrEmpty(description) ? null : description, Enabled: true, clock.GetUtcNow());
        string secret = WebhookSignature.NewSecret();

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO endpoints (id, workspace_id, url, events, description, secret, enabled, created_at, updated_at)
            VALUES (@Id, @WorkspaceId, @Url, @Events, @Description, @Secret, true, @CreatedAt, @CreatedAt)
            """,
            new { endpoint.Id, endpoint.WorkspaceId, endpoint.Url, Events = endpoint.Events.ToArray(), endpoint.Description, Secret = secret, endpoint.CreatedAt },
            cancellationToken: ct));
        return new CreatedEndpoint(endpoint, secret);
    }

    /// <summary>The caller's endpoint; another workspace's is as missing as one that never existed.</summary>
    public async Task<WebhookEndpoint> GetAsync(InternalIdentity caller, string endpointId, CancellationToken ct)
    {
        RequireScope(caller, ReadScope);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition(
            $"{SelectEndpoints} WHERE workspace_id = @WorkspaceId AND id = @Id",
            new { caller.WorkspaceId, Id = endpointId }, cancellationToken: ct));
        return row?.ToEndpoint() ?? throw ApiException.NotFound("Webhook endpoint");
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(InternalIdentity caller, CancellationToken ct)
    {
        RequireScope(caller, ReadScope);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<EndpointRow>(new CommandDefinition(
            $"{SelectEndpoints} WHERE workspace_id = @WorkspaceId ORDER BY id",
            new { caller.WorkspaceId }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToEndpoint())];
    }

    private static void RequireScope(InternalIdentity caller, string scope)
    {
        if (!caller.HasScope(scope))
        {
            throw ApiException.Forbidden($"This operation requires the {scope} scope.");
        }
    }

    private const string SelectEndpoints = """
        SELECT id AS Id, workspace_id AS WorkspaceId, url AS Url, events AS Events, description AS Description,
               enabled AS Enabled, created_at AS CreatedAt
        FROM endpoints
        """;

    // A class, not a positional record: Dapper reports text[] columns as System.Array, which no constructor matches.
    private sealed class EndpointRow
    {
        public string Id { get; init; } = "";
        public string WorkspaceId { get; init; } = "";
        public string Url { get; init; } = "";
        public string[] Events { get; init; } = [];
        public string? Description { get; init; }
        public bool Enabled { get; init; }
        public DateTime CreatedAt { get; init; }

        public WebhookEndpoint ToEndpoint() => new(Id, WorkspaceId, Url, Events, Description, Enabled, new DateTimeOffset(CreatedAt, TimeSpan.Zero));
    }
}
