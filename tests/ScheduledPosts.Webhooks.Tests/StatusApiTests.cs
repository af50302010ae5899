using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class StatusApp : WebhooksApp
{
    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
    };
}

/// <summary>
/// <c>GET /admin/status</c> of the webhooks service (docs/operations.md#admin-status): only the gateway's admin identity
/// gets it, and with a backlog and endpoints the test made it reports exactly those counts and ages — no ids.
/// </summary>
public sealed class StatusApiTests(StatusApp app) : IClassFixture<StatusApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task With_a_known_backlog_the_status_reports_the_deliveries_waiting_and_the_endpoints_disabled_or_failing()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var healthy = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var disabled = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var failing = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(app.ConnectionString) { SearchPath = "webhooks" }.ConnectionString);
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE endpoints SET enabled = false, disabled_reason = 'test' WHERE id = @id", new { id = disabled.Id });
        await connection.ExecuteAsync("UPDATE endpoints SET failing_since = clock_timestamp() - interval '1 hour' WHERE id = @id", new { id = failing.Id });
        // Four deliveries to the healthy endpoint: one delivered, one waiting for its retry (created 300 s ago), and two
        // due that another sender holds (its row locks make this one skip them): written not yet due, locked, made due.
        var ids = (await connection.QueryAsync<string>("""
            INSERT INTO events (id, workspace_id, type, post_id, schedule_version, occurred_at, body, received_at)
            SELECT 'evt_status_' || i || '_' || @endpoint, @workspace, 'post.published', 'post_status', 1, now(), '{}', now() FROM generate_series(1, 4) AS i;
            INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
            SELECT 'dlv_status_' || i || '_' || @endpoint, 'evt_status_' || i || '_' || @endpoint, @endpoint, @workspace,
                   CASE i WHEN 4 THEN 'delivered' ELSE 'pending' END,
                   CASE i WHEN 4 THEN NULL ELSE clock_timestamp() + interval '1 hour' END,
                   clock_timestamp() - CASE i WHEN 3 THEN interval '300 s' ELSE interval '5 s' END, now()
            FROM generate_series(1, 4) AS i
            RETURNING id
            """, new { endpoint = healthy.Id, workspace })).Order().ToArray();
        await using var sender = await dataSource.OpenConnectionAsync();
        await using var holding = await sender.BeginTransactionAsync();
        await sender.ExecuteAsync("SELECT id FROM deliveries WHERE id = ANY(@held) FOR KEY SHARE", new { held = ids[..2] }, holding);
        await connection.ExecuteAsync("""
            UPDATE deliveries SET next_attempt_at = clock_timestamp() - CASE id WHEN @first THEN interval '60 s' ELSE interval '20 s' END
            WHERE id = ANY(@held)
            """, new { held = ids[..2], first = ids[0] });

        var status = JsonNode.Parse(await AdminClient().GetStringAsync("/admin/status"))!;

        var deliveries = status["deliveries"]!;
        Assert.Equal(3, deliveries["pending"]!.GetValue<long>());
        Assert.Equal(2, deliveries["due"]!.GetValue<long>());
        Assert.InRange(deliveries["oldestDueAgeSeconds"]!.GetValue<double>(), 60, 90);
        Assert.InRange(deliveries["oldestPendingAgeSeconds"]!.GetValue<double>(), 300, 330);
        var endpoints = status["endpoints"]!;
        Assert.Equal(3, endpoints["total"]!.GetValue<long>());
        Assert.Equal(1, endpoints["disabled"]!.GetValue<long>());
        Assert.Equal(1, endpoints["failing"]!.GetValue<long>());
        Assert.InRange(endpoints["longestFailingSeconds"]!.GetValue<double>(), 3600, 3630);
        // Counts only: no endpoint, URL or workspace of any tenant.
        string text = status.ToJsonString();
        Assert.DoesNotContain(workspace, text, StringComparison.Ordinal);
        Assert.DoesNotContain(healthy.Id, text, StringComparison.Ordinal);
        Assert.DoesNotContain("http", text, StringComparison.Ordinal);

        await holding.RollbackAsync();
    }

    public static TheoryData<string, string> Callers => new()
    {
        { "none", "UNAUTHENTICATED" },
        { "webhooks admin key", "FORBIDDEN_SCOPE" },
        // The webhooks service trusts no issuer but the gateway: the publisher's token is no identity here.
        { "publisher", "UNAUTHENTICATED" },
    };

    [Theory]
    [MemberData(nameof(Callers))]
    public async Task Only_the_gateways_admin_identity_gets_it_anyone_else_has_an_error_envelope(string caller, string code)
    {
        var client = caller switch
        {
            "none" => app.Factory.CreateClient(),
            "webhooks admin key" => app.ClientFor(WebhooksApp.NewWorkspace(), WebhooksApp.AllScopes),
            _ => app.Factory.CreateDefaultClient(new InternalIdentityHandler(InternalKeys.PublisherIssuer,
                InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Admin), Extensions.Audience)),
        };

        var response = await client.GetAsync("/admin/status");

        await response.AssertEnvelopeAsync(code == "UNAUTHENTICATED" ? HttpStatusCode.Unauthorized : HttpStatusCode.Forbidden, code);
    }

    private HttpClient AdminClient() => app.Factory.CreateDefaultClient(new InternalIdentityHandler(InternalKeys.GatewayIssuer,
        InternalIdentity.Service(InternalIssuers.Gateway, InternalScopes.Admin), Extensions.Audience));
}
