using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// docs/guarantees.md, the promises under slow uploads and noisy neighbours: nothing is killed here; the platform is slower
/// than the lease, or one workspace floods the system while another expects its usual service. The same invariant check
/// as <see cref="ChaosTests"/> closes every scenario.
/// </summary>
[Trait("Category", "Chaos")]
public sealed class SlowAndNoisyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_upload_takes_longer_than_the_lease_and_some_longer_than_two()
    {
        // The suite's lease is 5 s. Every upload takes 6 s, one account's 11 s; the connector waits for them. No upload
        // waits for an account's slot (which may hand a target back PUBLISHER_BUSY, to be claimed again): each target
        // is claimed once, unless a claim was lost.
        await using var system = await ChaosSystem.StartAsync(output, (service, environment) =>
        {
            if (service == "publisher")
            {
                environment["Sandbox__Timeout"] = "00:00:30";
                environment["UploadLimits__ConcurrentUploadsPerAccount"] = "64";
            }
        });
        var lease = TimeSpan.FromSeconds(5);
        await system.SetUploadLatencyAsync(TimeSpan.FromSeconds(6));
        string slowest = system.Accounts.Values.First();
        await system.InjectFaultAsync(new { handle = slowest, latencyMs = 11_000 });
        var burst = await Burst.StartAsync(system, posts: 60);

        await Invariants.HoldAsync(system, burst, TimeSpan.FromSeconds(180));

        // The scenario proves something only if the uploads did outlast the lease: from claim to report, per target.
        var uploads = await system.QueryAsync("""
            SELECT a.handle, extract(epoch FROM t.published_at - c.claimed_at)
            FROM scheduling.targets t JOIN scheduling.target_claims c ON c.target_id = t.id JOIN scheduling.social_accounts a ON a.id = t.social_account_id
            WHERE t.status = 'published'
            """, r => (Handle: r.GetString(0), Seconds: r.GetDouble(1)));
        output.WriteLine($"{uploads.Count} uploads published, {uploads.Min(u => u.Seconds):0.0} to {uploads.Max(u => u.Seconds):0.0} s from claim to report");
        Assert.NotEmpty(uploads);
        Assert.All(uploads, u => Assert.True(u.Seconds > lease.TotalSeconds, $"an upload to {u.Handle} took {u.Seconds:0.0} s"));
        Assert.Contains(uploads, u => u.Handle == slowest && u.Seconds > 2 * lease.TotalSeconds);
        // Each upload kept its claim by renewing it: nothing expired, nothing ended of unknown outcome, no target was
        // claimed a second time while its first upload was still running.
        Assert.Empty(await system.QueryAsync("SELECT id || ' ' || error_code FROM scheduling.targets WHERE status = 'failed'", r => r.GetString(0)));
        Assert.Empty(await system.QueryAsync(
            "SELECT target_id FROM scheduling.target_claims GROUP BY target_id HAVING count(*) > 1", r => r.GetString(0)));
    }

    [Fact]
    public async Task A_workspace_with_5000_due_targets_does_not_hold_up_another_workspaces_post_due_in_the_same_second()
    {
        await using var system = await ChaosSystem.StartAsync(output);
        var (_, quietClient, quietAccount) = await system.NewWorkspaceAsync("quiet");
        // 625 posts of eight targets (8 accounts): 5,000 targets due within half a second.
        var burst = await Burst.StartAsync(system, posts: 625, spread: TimeSpan.FromSeconds(0.5), targetsPerPost: 8, warmUp: 40);
        Assert.Equal(5000, burst.TargetCount);
        var single = await burst.AddPostAsync(quietClient, quietAccount, burst.FirstDue);

        string target = single.TargetIds[0];
        // Patience counts from the due time: on a loaded machine the burst's lead (sized by how fast the parked posts were
        // created) can be longer than the patience itself.
        var untilDue = single.Due - DateTimeOffset.UtcNow;
        var publishedAt = await Eventually.Until(
            () => system.QueryAsync($"SELECT published_at FROM scheduling.targets WHERE id = '{target}' AND status = 'published'", r => r.GetDateTime(0)),
            rows => rows.Count == 1, Patience + (untilDue > TimeSpan.Zero ? untilDue : TimeSpan.Zero), "the other workspace's post to be published");
        long backlog = await system.CountAsync($"""
            SELECT count(*) FROM scheduling.targets t JOIN scheduling.posts p ON p.id = t.post_id
            WHERE p.workspace_id = '{system.Workspace}' AND t.status IN ('scheduled', 'publishing') AND p.scheduled_for < clock_timestamp()
            """);
        var late = new DateTimeOffset(publishedAt[0], TimeSpan.Zero) - single.Due;
        var trail = await system.QueryAsync($"""
            SELECT format('due %s, sent %s, picked up %s', to_char(due_at, 'HH24:MI:SS.MS'), to_char(sent_at, 'HH24:MI:SS.MS'), to_char(picked_at, 'HH24:MI:SS.MS'))
            FROM scheduling.outbox WHERE target_id = '{target}'
            UNION ALL SELECT format('claimed %s (epoch %s)', to_char(claimed_at, 'HH24:MI:SS.MS'), epoch) FROM scheduling.target_claims WHERE target_id = '{target}'
            UNION ALL SELECT format('attempts %s, last error %s', attempt_count, coalesce(error_code, 'none')) FROM scheduling.targets WHERE id = '{target}'
            """, r => r.GetString(0));
        // Its copy on the platform: between the claim and the report, the upload.
        trail.AddRange((await system.SandboxStatusesAsync()).Where(s => s.Status == single.Caption).Select(s => $"on the platform {s.ReceivedAt.UtcDateTime:HH:mm:ss.fff}"));
        output.WriteLine($"the other workspace's post, due {ChaosSystem.Iso(single.Due)}, was published {late.TotalSeconds:0.00} s late " +
            $"({string.Join(", ", trail)}, reported {publishedAt[0]:HH:mm:ss.fff}), with {backlog} of the busy workspace's 5000 due targets still waiting");

        // Not behind the backlog: without turns and shares it would be sent, and taken from the queue, after all 5,000.
        Assert.True(backlog > 2500, $"published {late.TotalSeconds:0.00} s late, with only {backlog} of the backlog left: it waited behind the backlog");

        await Invariants.HoldAsync(system, burst, TimeSpan.FromSeconds(300));
        // The issue's bound (docs/guarantees.md#known-limits: what it takes on a loaded two-core machine).
        Assert.True(late < TimeSpan.FromSeconds(5), $"published {late.TotalSeconds:0.00} s after its due time, not within 5 s");
    }

    [Fact]
    public async Task Sixteen_hanging_webhook_endpoints_of_one_workspace_do_not_slow_another_workspaces_deliveries()
    {
        // The production timeout: each attempt at a hanging endpoint holds its slot for 10 s.
        await using var system = await ChaosSystem.StartAsync(output, (service, environment) =>
        {
            if (service == "webhooks")
            {
                environment["Webhooks__RequestTimeout"] = "00:00:10";
                environment["Webhooks__ClaimLease"] = "00:00:30";
            }
        });
        var hanging = new List<Subscriber>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                var subscriber = await Subscriber.StartAsync($"hanging{i}");
                subscriber.Latency = TimeSpan.FromHours(1);
                hanging.Add(subscriber);
                await system.SubscribeAsync(subscriber, ["*"]);
            }

            var (quiet, quietClient, quietAccount) = await system.NewWorkspaceAsync("quiet");
            var quietSubscriber = await Subscriber.StartAsync("quiet");
            await using var _ = quietSubscriber;
            await system.SubscribeAsync(quietSubscriber, ["*"], quietClient, quiet);
            var burst = await Burst.StartAsync(system, posts: 60);

            string HangingInFlight = $"""
                SELECT count(*) FROM webhooks.deliveries d JOIN webhooks.endpoints e ON e.id = d.endpoint_id
                WHERE e.url IN ({string.Join(", ", hanging.Select(h => $"'{h.Url}'"))})
                  AND d.status = 'pending' AND d.lease_id IS NOT NULL AND d.next_attempt_at > clock_timestamp()
                """;
            await Eventually.Until(() => system.CountAsync(HangingInFlight), n => n >= 16, Patience, "the hanging endpoints to hold their slots");

            // While they hang, the other workspace publishes; its webhooks should not wait for the 10 s timeouts.
            var due = DateTimeOffset.UtcNow.AddSeconds(2);
            var posts = new List<Burst.PlannedPost>();
            for (int i = 0; i < 10; i++)
            {
                posts.Add(await burst.AddPostAsync(quietClient, quietAccount, due));
            }

            string quietEvents = $"SELECT count(*) FROM {Invariants.OutboxMessages} WHERE o.message_type <> 'TargetDue' AND m->>'workspaceId' = '{quiet}'";
            await Eventually.Until(async () => (await system.CountAsync(
                    $"SELECT count(*) FROM scheduling.posts WHERE workspace_id = '{quiet}' AND status = 'published'"), await system.CountAsync(quietEvents)),
                n => n.Item1 == posts.Count && quietSubscriber.Accepted.Count >= n.Item2, Patience, "the other workspace's posts published and their webhooks delivered");
            var latencies = await system.QueryAsync($"""
                SELECT extract(epoch FROM d.updated_at - ev.received_at)
                FROM webhooks.deliveries d JOIN webhooks.events ev ON ev.id = d.event_id JOIN webhooks.endpoints e ON e.id = d.endpoint_id
                WHERE e.workspace_id = '{quiet}' AND d.status = 'delivered'
                """, r => r.GetDouble(0));
            long stillHanging = await system.CountAsync(HangingInFlight);
            latencies.Sort();
            output.WriteLine($"{latencies.Count} webhooks of the other workspace delivered, median {latencies[latencies.Count / 2]:0.000} s, " +
                $"slowest {latencies[^1]:0.000} s after the event; {stillHanging} attempts at the hanging endpoints in flight then");
            Assert.True(stillHanging >= 16, "the hanging endpoints no longer held their slots; the scenario proves nothing");
            Assert.True(latencies[^1] < 3, $"a webhook of the other workspace took {latencies[^1]:0.000} s");

            foreach (var subscriber in hanging)
            {
                subscriber.Latency = TimeSpan.Zero;
            }

            await Invariants.HoldAsync(system, burst, TimeSpan.FromSeconds(240));
        }
        finally
        {
            foreach (var subscriber in hanging)
            {
                await subscriber.DisposeAsync();
            }
        }
    }
}
