using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// <c>GET /admin/status</c> of the scheduling service (docs/operations.md#admin-status): only the gateway's admin
/// identity gets it, and with a backlog the test made — messages another replica holds, an overdue target, an error
/// queue with messages, sent messages with known lags — it reports exactly that.
/// </summary>
public sealed class StatusApiTests(StatusApiTests.StatusFactory factory) : IClassFixture<StatusApiTests.StatusFactory>
{
    public sealed class StatusFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Watch:OverdueAfter"] = "00:00:01";
            settings["Watch:LagWindow"] = "00:10:00";
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task With_a_known_backlog_the_status_reports_the_queues_outbox_overdue_targets_and_lag_percentiles_the_test_made()
    {
        // One target due now that nobody claims (this factory's probe receives its message and never claims): overdue.
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var post = await CreatePostAsync(client, [await ConnectAccountAsync(client)], DateTimeOffset.UtcNow);
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.TargetId == targetId)), due => due, Patience, "the target's message");

        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(factory.ConnectionString) { SearchPath = "scheduling" }.ConnectionString);
        await using var connection = await dataSource.OpenConnectionAsync();
        // The dispatcher marks a message sent after the broker confirmed it, so the message can arrive first; and the
        // post's events go in passes of their own. Once nothing due is left unsent, nothing more lands in the window.
        await Eventually.Until(() => connection.ExecuteScalarAsync<long>("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND due_at <= clock_timestamp()"),
            unsent => unsent == 0, Patience, "everything the service wrote so far sent");
        // What the service sent so far moves out of the lag window: the lags below are then the only ones in it.
        await connection.ExecuteAsync("""
            UPDATE outbox SET due_at = due_at - interval '1 hour', sent_at = sent_at - interval '1 hour', picked_at = picked_at - interval '1 hour'
            WHERE sent_at IS NOT NULL
            """);
        // 100 messages sent in the window, the i-th 10·i ms after its due time and picked up 20·i ms after it; one sent
        // before the window, 1000 s late, which must not count.
        await connection.ExecuteAsync("""
            INSERT INTO outbox (message_type, payload, due_at, sent_at, picked_at, target_id)
            SELECT 'TargetDue', '{}', t - i * interval '10 ms', t, t + i * interval '10 ms', 'tgt_lag_' || i
            FROM generate_series(1, 100) AS i, (SELECT clock_timestamp() - interval '1 minute' AS t) AS now;
            INSERT INTO outbox (message_type, payload, due_at, sent_at)
            VALUES ('PostEvent', '{}', clock_timestamp() - interval '20 minutes' - interval '1000 s', clock_timestamp() - interval '20 minutes');
            """);
        // Three due messages another replica holds (its row locks make the dispatcher skip them): written not yet due,
        // locked, then made due.
        var held = (await connection.QueryAsync<long>("""
            INSERT INTO outbox (message_type, payload, due_at) VALUES
                ('TargetDue', '{}', clock_timestamp() + interval '1 hour'),
                ('TargetDue', '{}', clock_timestamp() + interval '1 hour'),
                ('PostEvent', '{}', clock_timestamp() + interval '1 hour')
            RETURNING id
            """)).ToArray();
        await using var replica = await dataSource.OpenConnectionAsync();
        await using var holding = await replica.BeginTransactionAsync();
        await replica.ExecuteAsync("SELECT id FROM outbox WHERE id = ANY(@held) FOR KEY SHARE", new { held }, holding);
        await connection.ExecuteAsync("""
            UPDATE outbox SET due_at = clock_timestamp() - CASE id WHEN @a THEN interval '120 s' WHEN @b THEN interval '30 s' ELSE interval '10 s' END
            WHERE id = ANY(@held)
            """, new { held, a = held[0], b = held[1] });
        // Two messages a consumer gave up on, in an error queue of this virtual host.
        var (rabbit, vhost) = factory.Broker;
        using var management = Infrastructure.ManagementClient(rabbit);
        (await management.PutAsync($"api/queues/{Uri.EscapeDataString(vhost)}/status-test_error", Json("""{"durable":true}"""))).EnsureSuccessStatusCode();
        for (int i = 0; i < 2; i++)
        {
            (await management.PostAsync($"api/exchanges/{Uri.EscapeDataString(vhost)}/amq.default/publish",
                Json("""{"properties":{},"routing_key":"status-test_error","payload":"failed","payload_encoding":"string"}"""))).EnsureSuccessStatusCode();
        }

        var admin = AdminClient();
        // The management API refreshes its queue figures every few seconds, and the overdue threshold must pass.
        var status = await Eventually.Until(async () => JsonNode.Parse(await admin.GetStringAsync("/admin/status"))!.AsObject(),
            s => s["queues"]!["errorMessages"]!.GetValue<long>() == 2 && s["targets"]!["overdue"]!.GetValue<long>() == 1
                && DueQueueConsumers(s) == 1, Patience,
            "the error queue's messages, the due queue's consumer and the overdue target in the status");

        var queues = status["queues"]!;
        Assert.True(queues["available"]!.GetValue<bool>());
        var errorQueue = queues["data"]!.AsArray().Single(q => q!["name"]!.GetValue<string>() == "status-test_error")!;
        Assert.Equal(2, errorQueue["messages"]!.GetValue<long>());
        Assert.True(errorQueue["errorQueue"]!.GetValue<bool>());
        var dueQueue = queues["data"]!.AsArray().Single(q => q!["name"]!.GetValue<string>() == "test-target-due")!;
        Assert.False(dueQueue["errorQueue"]!.GetValue<bool>());
        Assert.Equal(1, dueQueue["consumers"]!.GetValue<int>());

        var outbox = status["outbox"]!;
        Assert.Equal(3, outbox["due"]!.GetValue<long>());
        Assert.InRange(outbox["oldestDueAgeSeconds"]!.GetValue<double>(), 120, 120 + Patience.TotalSeconds);
        var byType = outbox["byMessageType"]!.AsArray();
        Assert.Equal(["PostEvent", "TargetDue"], byType.Select(m => m!["messageType"]!.GetValue<string>()));
        Assert.Equal([1L, 2L], byType.Select(m => m!["due"]!.GetValue<long>()));
        Assert.InRange(byType[0]!["oldestDueAgeSeconds"]!.GetValue<double>(), 10, 30);

        var targets = status["targets"]!;
        Assert.Equal(1, targets["scheduled"]!.GetValue<long>());
        Assert.Equal(0, targets["publishing"]!.GetValue<long>());
        Assert.True(targets["oldestOverdueAgeSeconds"]!.GetValue<double>() >= 1);
        Assert.Equal(1, targets["overdueThresholdSeconds"]!.GetValue<double>());

        var lag = status["lag"]!;
        Assert.Equal(600, lag["windowSeconds"]!.GetValue<double>());
        // percentile_cont over 0.01 … 1.00 s: p50 = 0.505, p95 = 0.9505, p99 = 0.9901 (reported to the millisecond).
        AssertPercentiles(lag["dueToDispatched"]!, 100, 0.505, 0.9505, 0.9901);
        AssertPercentiles(lag["dueToClaimed"]!, 100, 1.01, 1.901, 1.9802);

        await holding.RollbackAsync();
    }

    // The management API's figures for each queue refresh on their own: the consumer shows once its queue's figures did.
    private static int? DueQueueConsumers(JsonObject status) =>
        status["queues"]!["data"]!.AsArray().SingleOrDefault(q => q!["name"]!.GetValue<string>() == "test-target-due")?["consumers"]?.GetValue<int>();

    [Fact]
    public async Task Nothing_in_the_window_reports_no_percentiles_rather_than_zero_lag()
    {
        var status = JsonNode.Parse(await AdminClient().GetStringAsync("/admin/status"))!;

        // Whatever the other test sent, the fields exist; a kind without samples has null percentiles.
        foreach (string kind in new[] { "dueToDispatched", "dueToClaimed" })
        {
            var lag = status["lag"]![kind]!;
            if (lag["samples"]!.GetValue<long>() == 0)
            {
                Assert.Null(lag["p50"]);
                Assert.Null(lag["p99"]);
            }
        }
    }

    public static TheoryData<string, string> Callers => new()
    {
        { "none", "UNAUTHENTICATED" },
        { "editor", "FORBIDDEN_SCOPE" },
        { "owner", "FORBIDDEN_SCOPE" },
        { "publisher", "FORBIDDEN_SCOPE" },
    };

    [Theory]
    [MemberData(nameof(Callers))]
    public async Task Only_the_gateways_admin_identity_gets_it_anyone_else_has_an_error_envelope(string caller, string code)
    {
        var client = caller switch
        {
            "none" => factory.CreateClient(),
            "editor" => factory.Client(),
            "owner" => factory.Client(scopes: ["posts:read", "posts:write", "posts:approve", "accounts:read", "accounts:write", "settings:read", "settings:write", "webhooks:read", "webhooks:write"]),
            // The admin scope from an issuer other than the gateway.
            _ => factory.CreateDefaultClient(new InternalIdentityHandler(InternalKeys.PublisherIssuer,
                InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets, InternalScopes.Admin), Extensions.Audience)),
        };

        var response = await client.GetAsync("/admin/status");

        await response.AssertEnvelopeAsync(code == "UNAUTHENTICATED" ? HttpStatusCode.Unauthorized : HttpStatusCode.Forbidden, code);
    }

    private HttpClient AdminClient() => factory.CreateDefaultClient(new InternalIdentityHandler(InternalKeys.GatewayIssuer,
        InternalIdentity.Service(InternalIssuers.Gateway, InternalScopes.Admin), Extensions.Audience));

    private static void AssertPercentiles(JsonNode lag, long samples, double p50, double p95, double p99)
    {
        Assert.Equal(samples, lag["samples"]!.GetValue<long>());
        Assert.Equal(p50, lag["p50"]!.GetValue<double>(), tolerance: 0.001);
        Assert.Equal(p95, lag["p95"]!.GetValue<double>(), tolerance: 0.001);
        Assert.Equal(p99, lag["p99"]!.GetValue<double>(), tolerance: 0.001);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
