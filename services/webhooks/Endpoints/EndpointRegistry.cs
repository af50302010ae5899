using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>A workspace's webhook endpoints: create, read, update, delete, rotate the secret, send a test event. The one core behind REST and gRPC.</summary>
public sealed partial class EndpointRegistry(
    NpgsqlDataSource dataSource,
    OutboundPolicy destinations,
    SecretProtector secrets,
    DeliveryStore deliveries,
    DeliveryHistory history,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    ILogger<EndpointRegistry> logger)
{
    public const string ReadScope = "webhooks:read";
    public const string WriteScope = "webhooks:write";

    public async Task<EndpointWithSecret> CreateAsync(InternalIdentity caller, string? url, IReadOnlyList<string>? events, string? description, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        var issues = EndpointRules.Validate(url, events, description, destinations);
        if (issues.Count > 0)
        {
            throw ApiException.Validation(issues);
        }

        await CheckResolvedAsync(url!, ct);
        string id = Ids.New("we");
        string secret = WebhookSignature.NewSecret();
        var now = clock.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleAsync<EndpointRow>(new CommandDefinition($"""
            INSERT INTO endpoints (id, workspace_id, url, events, description, secret, enabled, created_at, updated_at)
            VALUES (@Id, @WorkspaceId, @Url, @Events, @Description, @Secret, true, @Now, @Now)
            RETURNING {EndpointColumns}
            """,
            new
            {
                Id = id, caller.WorkspaceId, Url = url, Events = events!.Distinct(StringComparer.Ordinal).ToArray(),
                Description = string.IsNullOrEmpty(description) ? null : description, Secret = secrets.Protect(secret, id), Now = now,
            },
            cancellationToken: ct));
        return new EndpointWithSecret(row.ToEndpoint(), secret, null);
    }

    /// <summary>The caller's endpoint; another workspace's is as missing as one that never existed.</summary>
    public async Task<WebhookEndpoint> GetAsync(InternalIdentity caller, string endpointId, CancellationToken ct)
    {
        RequireScope(caller, ReadScope);
        return await FindAsync(caller.WorkspaceId, endpointId, ct) ?? throw NotFound();
    }

    internal async Task<WebhookEndpoint?> FindAsync(string workspaceId, string endpointId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM endpoints WHERE workspace_id = @WorkspaceId AND id = @Id",
            new { WorkspaceId = workspaceId, Id = endpointId }, cancellationToken: ct));
        return row?.ToEndpoint();
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(InternalIdentity caller, CancellationToken ct)
        => (await ListAsync(caller, null, ct)).Endpoints;

    /// <summary>The workspace's endpoints by id: all of them, or one page and the token of the next.</summary>
    public async Task<(IReadOnlyList<WebhookEndpoint> Endpoints, string? NextPageToken)> ListAsync(InternalIdentity caller, PageRequest? page, CancellationToken ct)
    {
        RequireScope(caller, ReadScope);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM endpoints WHERE workspace_id = @WorkspaceId AND (@after::text IS NULL OR id > @after) ORDER BY id LIMIT @limit",
            new { caller.WorkspaceId, after = page?.AfterKey, limit = page?.Size + 1 }, cancellationToken: ct));
        List<WebhookEndpoint> endpoints = [.. rows.Select(r => r.ToEndpoint())];
        return page is null ? (endpoints, null) : page.Cut(endpoints, e => e.Id);
    }

    /// <summary>
    /// Changes what <paramref name="changes"/> sets. Enabling an endpoint clears why it was disabled and its failure
    /// streak; disabling it makes its pending deliveries fail when next due (they can be redelivered).
    /// </summary>
    public async Task<WebhookEndpoint> UpdateAsync(InternalIdentity caller, string endpointId, EndpointChanges changes, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        var issues = EndpointRules.Validate(changes, destinations);
        if (issues.Count > 0)
        {
            throw ApiException.Validation(issues);
        }

        if (changes.Url is not null)
        {
            await CheckResolvedAsync(changes.Url, ct);
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition($"""
            UPDATE endpoints SET
                url = coalesce(@Url::text, url),
                events = coalesce(@Events::text[], events),
                description = CASE WHEN @SetDescription THEN @Description::text ELSE description END,
                enabled = coalesce(@Enabled::boolean, enabled),
                disabled_reason = CASE
                    WHEN @Enabled::boolean IS NULL THEN disabled_reason
                    WHEN @Enabled::boolean THEN NULL
                    WHEN enabled THEN 'Disabled through the API.'
                    ELSE disabled_reason END,
                failing_since = CASE WHEN @Enabled::boolean AND NOT enabled THEN NULL ELSE failing_since END,
                updated_at = @Now
            WHERE workspace_id = @WorkspaceId AND id = @Id
            RETURNING {EndpointColumns}
            """,
            new
            {
                changes.Url, Events = changes.Events?.Distinct(StringComparer.Ordinal).ToArray(), changes.SetDescription,
                Description = string.IsNullOrEmpty(changes.Description) ? null : changes.Description, changes.Enabled,
                Now = clock.GetUtcNow(), caller.WorkspaceId, Id = endpointId,
            },
            cancellationToken: ct));
        return row?.ToEndpoint() ?? throw NotFound();
    }

    /// <summary>Deletes the endpoint with its deliveries and their attempts; nothing more is sent to it.</summary>
    public async Task DeleteAsync(InternalIdentity caller, string endpointId, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int deleted = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM endpoints WHERE workspace_id = @WorkspaceId AND id = @Id",
            new { caller.WorkspaceId, Id = endpointId }, cancellationToken: ct));
        if (deleted == 0)
        {
            throw NotFound();
        }
    }

    /// <summary>
    /// A new secret, shown this once. The one it replaces keeps signing too (a second signature) for
    /// <see cref="WebhookOptions.SecretRotationOverlap"/>, so receivers can switch without missing a webhook.
    /// </summary>
    public async Task<EndpointWithSecret> RotateSecretAsync(InternalIdentity caller, string endpointId, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        string secret = WebhookSignature.NewSecret();
        var now = clock.GetUtcNow();
        var previousExpiresAt = now + options.Value.SecretRotationOverlap;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition($"""
            UPDATE endpoints
            SET previous_secret = secret, previous_secret_expires_at = @PreviousExpiresAt, secret = @Secret, updated_at = @Now
            WHERE workspace_id = @WorkspaceId AND id = @Id
            RETURNING {EndpointColumns}
            """,
            new { Secret = secrets.Protect(secret, endpointId), PreviousExpiresAt = previousExpiresAt, Now = now, caller.WorkspaceId, Id = endpointId },
            cancellationToken: ct));
        return row is null ? throw NotFound() : new EndpointWithSecret(row.ToEndpoint(), secret, previousExpiresAt);
    }

    /// <summary>Sends a <c>webhook.test</c> event to this endpoint only (whatever it subscribes to), as a delivery like any other.</summary>
    public async Task<DeliveryView> SendTestAsync(InternalIdentity caller, string endpointId, CancellationToken ct)
    {
        RequireScope(caller, WriteScope);
        var endpoint = await FindAsync(caller.WorkspaceId, endpointId, ct) ?? throw NotFound();
        if (!endpoint.Enabled)
        {
            throw ApiException.Conflict("The endpoint is disabled; enable it before sending a test event.");
        }

        string eventId = Ids.New("evt");
        var now = clock.GetUtcNow();
        string deliveryId = await deliveries.RecordTestEventAsync(caller.WorkspaceId, endpointId, eventId, WebhookPayload.BuildTest(eventId, endpointId, now), now, ct)
            ?? throw ApiException.Conflict("The endpoint was disabled or deleted meanwhile.");
        return await history.FindAsync(caller.WorkspaceId, deliveryId, ct) ?? throw ApiException.NotFound("Webhook delivery");
    }

    /// <summary>At start-up with a key configured: encrypts the secrets stored before it was.</summary>
    public async Task ProtectStoredSecretsAsync(CancellationToken ct)
    {
        if (!secrets.Encrypts)
        {
            Log.SecretsUnencrypted(logger);
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(string Id, string Secret, string? PreviousSecret)>(new CommandDefinition($"""
            SELECT id, secret, previous_secret FROM endpoints
            WHERE secret NOT LIKE '{SecretProtector.Prefix}%' OR previous_secret NOT LIKE '{SecretProtector.Prefix}%'
            """, cancellationToken: ct));
        int count = 0;
        foreach (var (id, secret, previous) in rows)
        {
            count += await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE endpoints SET secret = @NewSecret, previous_secret = @NewPrevious
                WHERE id = @Id AND secret = @Secret AND previous_secret IS NOT DISTINCT FROM @Previous
                """,
                new
                {
                    Id = id, Secret = secret, Previous = previous,
                    NewSecret = SecretProtector.IsProtected(secret) ? secret : secrets.Protect(secret, id),
                    NewPrevious = previous is null || SecretProtector.IsProtected(previous) ? previous : secrets.Protect(previous, id),
                },
                cancellationToken: ct));
        }

        if (count > 0)
        {
            Log.SecretsEncrypted(logger, count);
        }
    }

    internal static void RequireScope(InternalIdentity caller, string scope)
    {
        if (!caller.HasScope(scope))
        {
            throw ApiException.Forbidden($"This operation requires the {scope} scope.");
        }
    }

    private async Task CheckResolvedAsync(string url, CancellationToken ct)
    {
        if (await destinations.CheckResolvedAsync(url, "url", ct) is { } problem)
        {
            throw ApiException.Validation("url", problem);
        }
    }

    private static ApiException NotFound() => ApiException.NotFound("Webhook endpoint");

    private const string EndpointColumns = """
        id, workspace_id, url, events, description, enabled, disabled_reason, created_at, updated_at
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
        public string? DisabledReason { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public WebhookEndpoint ToEndpoint() => new(
            Id, WorkspaceId, Url, Events, Description, Enabled, DisabledReason,
            new DateTimeOffset(CreatedAt, TimeSpan.Zero), new DateTimeOffset(UpdatedAt, TimeSpan.Zero));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Webhooks:SecretKey is not configured: endpoint signing secrets are stored unencrypted")]
        public static partial void SecretsUnencrypted(ILogger logger);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Encrypted the signing secrets of {Count} webhook endpoints")]
        public static partial void SecretsEncrypted(ILogger logger, int count);
    }
}
