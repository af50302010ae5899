using System.Net;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// docs/guarantees.md over the whole system, after a scenario: read from the scheduling and webhooks schemas, the sandbox
/// platform's record of what it received, the subscribers' record of what they accepted, and the broker's queues.
/// </summary>
public static class Invariants
{
    /// <summary>How long a due message may wait unsent, or a due post unclaimed, before it counts as stuck.</summary>
    private static readonly TimeSpan Overdue = TimeSpan.FromSeconds(3);

    public sealed record Report(List<string> Violations, string Summary)
    {
        public override string ToString() => Violations.Count == 0
            ? Summary
            : $"{Violations.Count} violations:\n  " + string.Join("\n  ", Shown()) + $"\n{Summary}";

        // The first and the last: the checks run in a fixed order, so a long list of one kind would hide the kinds after it.
        private List<string> Shown() => Violations.Count <= 40
            ? Violations
            : [.. Violations.Take(20), $"... {Violations.Count - 40} more ...", .. Violations.TakeLast(20)];
    }

    /// <summary>Waits for the system to settle with every invariant holding; fails with the violations left otherwise.</summary>
    public static async Task<Report> HoldAsync(ChaosSystem system, Burst burst, TimeSpan? timeout = null)
    {
        await burst.Racing;
        Report report;
        try
        {
            report = await Eventually.Until(() => CheckAsync(system, burst), r => r.Violations.Count == 0,
                timeout ?? TimeSpan.FromSeconds(90), "every invariant to hold");
        }
        catch (TimeoutException e)
        {
            system.Output.WriteLine(system.Suite.Logs);
            // What each service says of itself: a bus endpoint that did not come back shows here.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var service in system.Suite.Services)
            {
                string answer;
                try
                {
                    using var response = await http.GetAsync(service.HealthUrl);
                    answer = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                }
                catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
                {
                    answer = error.Message;
                }

                system.Output.WriteLine($"{service.Name} {service.HealthUrl}: {answer}");
            }

            // What the broker holds and for whom: a consumer that did not come back, or messages held for no channel.
            try
            {
                system.Output.WriteLine(await system.BrokerStateAsync());
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
            {
                system.Output.WriteLine($"broker state not read: {error.Message}");
            }

            // And what the database is doing: a statement waiting on a lock names the sessions holding it. Unreachable, it
            // says so, and the timeout's own message still reaches the report.
            try
            {
                await WriteDatabaseSessionsAsync(system);
            }
            catch (Npgsql.NpgsqlException error)
            {
                system.Output.WriteLine($"database sessions not read: {error.Message}");
            }

            throw new Xunit.Sdk.XunitException(e.Message);
        }

        system.Output.WriteLine(report.Summary);
        system.Output.WriteLine($"races: {burst.Summary()}");
        return report;
    }

    private static async Task WriteDatabaseSessionsAsync(ChaosSystem system)
    {
        var busy = await system.QueryAsync("""
            SELECT pid, application_name, state, coalesce(wait_event_type || ':' || wait_event, ''),
                   extract(epoch FROM clock_timestamp() - xact_start)::int, pg_blocking_pids(pid)::text, left(query, 160)
            FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
            """, r => $"pid {r.GetInt32(0)} {r.GetString(1)} {r.GetString(2)} {r.GetString(3)}, in a transaction for " +
                $"{(r.IsDBNull(4) ? "-" : r.GetInt32(4))} s, blocked by {r.GetString(5)}: {r.GetString(6)}");
        system.Output.WriteLine($"{busy.Count} database sessions not idle" + string.Concat(busy.Select(b => "\n  " + b)));
    }

    private sealed record PostRow(string Id, string Status, DateTime? ScheduledFor, long Version);

    private sealed record TargetRow(string Id, string PostId, string AccountId, string Status, string? ErrorCode, string? ExternalPostId);

    private sealed record OutboxRow(string Type, string? EventId, string? EventType, string? TargetId, long? Version, DateTime DueAt, bool Sent, string? Workspace);

    /// <summary>
    /// Every message of the outbox as <c>o</c> (the row) and <c>m</c> (the message): a <c>PostEventBatch</c> row once per
    /// event it carries, any other row once.
    /// </summary>
    public const string OutboxMessages = """
        scheduling.outbox o CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN o.message_type = 'PostEventBatch' THEN o.payload->'events' ELSE jsonb_build_array(o.payload) END) m
        """;

    public static async Task<Report> CheckAsync(ChaosSystem system, Burst burst)
    {
        var violations = new List<string>();
        var now = (await system.QueryAsync("SELECT clock_timestamp()", r => r.GetDateTime(0)))[0];
        var posts = (await system.QueryAsync("SELECT id, status, scheduled_for, schedule_version FROM scheduling.posts",
            r => new PostRow(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetDateTime(2), r.GetInt64(3)))).ToDictionary(p => p.Id);
        var targets = await system.QueryAsync("SELECT id, post_id, social_account_id, status, error_code, external_post_id FROM scheduling.targets",
            r => new TargetRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5)));
        var outbox = await system.QueryAsync($"""
            SELECT o.message_type, m->>'eventId', m->>'type', m->>'targetId', (m->>'scheduleVersion')::bigint, o.due_at, o.sent_at IS NOT NULL,
                   m->>'workspaceId'
            FROM {OutboxMessages}
            """, r => new OutboxRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2),
                r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetInt64(4), r.GetDateTime(5), r.GetBoolean(6), r.IsDBNull(7) ? null : r.GetString(7)));
        var statuses = await system.SandboxStatusesAsync();
        var copies = statuses.GroupBy(s => (s.Account, s.Status)).ToDictionary(g => g.Key, g => g.ToList());
        var captions = burst.Posts.ToDictionary(p => p.Id, p => p.Caption);

        // Every post is finished, or still correctly scheduled: in the future, its pending messages there under its current version.
        var pendingDue = outbox.Where(o => o is { Type: "TargetDue", Sent: false }).ToLookup(o => o.TargetId);
        var targetsByPost = targets.ToLookup(t => t.PostId);
        foreach (var planned in burst.Posts)
        {
            if (!posts.TryGetValue(planned.Id, out var post))
            {
                violations.Add($"{planned.Id}: gone");
                continue;
            }

            switch (post.Status)
            {
                case "published" or "partially_published" or "failed" or "cancelled":
                    break;
                case "scheduled" when post.ScheduledFor is { } due && due > now - Overdue:
                    foreach (var target in targetsByPost[post.Id].Where(t => t.Status == "scheduled"))
                    {
                        var messages = pendingDue[target.Id].ToList();
                        if (messages.Count != 1 || messages[0].Version != post.Version || messages[0].DueAt != due)
                        {
                            violations.Add($"{post.Id}: scheduled for {due:O} v{post.Version}, but target {target.Id} has pending messages " +
                                $"[{string.Join(", ", messages.Select(m => $"v{m.Version} at {m.DueAt:O}"))}]");
                        }
                    }

                    if (targetsByPost[post.Id].Any(t => t.Status is not ("scheduled" or "cancelled")))
                    {
                        violations.Add($"{post.Id}: scheduled with targets {string.Join(", ", targetsByPost[post.Id].Select(t => t.Status))}");
                    }

                    break;
                default:
                    violations.Add($"{post.Id}: {post.Status}" + (post.ScheduledFor is { } at ? $", due {(now - at).TotalSeconds:0.0} s ago" : ""));
                    break;
            }
        }

        // On the platform: each published target exactly once (the copy it recorded), nothing cancelled or still scheduled, nothing else.
        var expected = new HashSet<(string, string)>();
        foreach (var target in targets.Where(t => captions.ContainsKey(t.PostId)))
        {
            var key = (Account: system.Handle(target.AccountId), Caption: captions[target.PostId]);
            expected.Add(key);
            var found = copies.GetValueOrDefault(key) ?? [];
            switch (target.Status)
            {
                case "published" when found.Count != 1 || found[0].Id != target.ExternalPostId:
                    violations.Add($"{target.Id} ({key.Caption} on {key.Account}): published as {target.ExternalPostId}, {found.Count} copies on the platform [{string.Join(", ", found.Select(f => f.Id))}]");
                    break;
                case "cancelled" or "scheduled" when found.Count > 0:
                    violations.Add($"{target.Id} ({key.Caption} on {key.Account}): {target.Status}, yet {found.Count} copies on the platform");
                    break;
                case "failed" when found.Count > 1 || string.IsNullOrEmpty(target.ErrorCode):
                    violations.Add($"{target.Id} ({key.Caption} on {key.Account}): failed ({target.ErrorCode ?? "no reason"}) with {found.Count} copies");
                    break;
                case "publishing":
                    violations.Add($"{target.Id}: still publishing");
                    break;
            }
        }

        foreach (var (key, found) in copies.Where(c => !expected.Contains(c.Key)))
        {
            violations.Add($"\"{key.Status}\" on {key.Account}: {found.Count} copies on the platform of no target");
        }

        CheckRaces(burst, targets, posts, statuses, violations);

        // Nothing stuck in the outbox.
        foreach (var row in outbox.Where(o => !o.Sent && o.DueAt < now - Overdue))
        {
            violations.Add($"outbox {row.Type} {row.EventId ?? row.TargetId} due {(now - row.DueAt).TotalSeconds:0.0} s ago, unsent");
        }

        // Every committed event reached the webhooks service, and each subscribed endpoint accepted it at least once.
        var committed = outbox.Where(o => o.Type != "TargetDue" && o.EventId is not null).ToList();
        var recorded = (await system.QueryAsync("SELECT id FROM webhooks.events", r => r.GetString(0))).ToHashSet();
        int notRecorded = committed.Count(e => e.Sent && !recorded.Contains(e.EventId!));
        if (notRecorded > 0)
        {
            violations.Add($"{notRecorded} sent events not recorded by the webhooks service, e.g. {committed.First(e => e.Sent && !recorded.Contains(e.EventId!)).EventId}");
        }

        foreach (var (subscriber, events, workspace) in system.Subscriptions)
        {
            var missed = committed.Where(e => e.Workspace == workspace && (events.Contains("*") || events.Contains(e.EventType))
                && !subscriber.Accepted.ContainsKey(e.EventId!)).ToList();
            if (missed.Count > 0)
            {
                violations.Add($"subscriber {subscriber.Name} is missing {missed.Count} events " +
                    $"({string.Join(", ", missed.GroupBy(m => m.EventType).Select(g => $"{g.Count()} {g.Key}"))}), e.g. {missed[0].EventId}");
            }
        }

        var deliveries = await system.QueryAsync("SELECT status, count(*), count(*) FILTER (WHERE lease_id IS NOT NULL) FROM webhooks.deliveries GROUP BY status",
            r => (Status: r.GetString(0), Count: r.GetInt64(1), Leased: r.GetInt64(2)));
        foreach (var (status, count, leased) in deliveries.Where(d => d.Status != "delivered"))
        {
            violations.Add($"{count} deliveries {status} ({leased} of them claimed)");
        }

        // Nothing parked in an error queue (a message a consumer gave up on is lost to the system).
        var queues = await system.QueuesAsync();
        foreach (var (name, messages, _, _) in queues.Where(q => q.Name.EndsWith("_error", StringComparison.Ordinal) && q.Messages > 0))
        {
            violations.Add($"{messages} messages in {name}");
        }

        // Where what is left waits, for a failure's message: sent and not picked up (in a queue, or lost), and the queues.
        var targetStatus = targets.ToDictionary(t => t.Id, t => t.Status);
        int sentWaiting = outbox.Count(o => o is { Type: "TargetDue", Sent: true } && targetStatus.GetValueOrDefault(o.TargetId!) == "scheduled");

        var summary = $"posts {Counts(posts.Values.Select(p => p.Status))}; targets {Counts(targets.Select(t => t.Status))}; " +
            $"failed targets {Counts(targets.Where(t => t.Status == "failed").Select(t => t.ErrorCode ?? "?"))}; " +
            $"{statuses.Count} statuses on the platform; {committed.Count} events ({committed.Count(e => e.EventType == "post.cancelled")} post.cancelled); " +
            $"deliveries {Counts(deliveries.SelectMany(d => Enumerable.Repeat(d.Status, (int)d.Count)))}; " +
            string.Join("; ", system.Subscriptions.Select(s => $"{s.Subscriber.Name} accepted {s.Subscriber.Accepted.Count} ids ({s.Subscriber.Accepted.Values.Sum()} requests), refused {s.Subscriber.Refused}")) +
            $"; {sentWaiting} due messages sent for targets still scheduled; queues " +
            string.Join(", ", queues.Where(q => q.Messages > 0 || !q.Name.EndsWith("_error", StringComparison.Ordinal)).Select(q => $"{q.Name} {q.Messages} ({q.Consumers} consumers)"));
        return new Report(violations, summary);
    }

    /// <summary>What the racing users were told holds: a 200 cancel took, a 200 reschedule moved every upload to the new time.</summary>
    private static void CheckRaces(Burst burst, List<TargetRow> targets, Dictionary<string, PostRow> posts, List<ChaosSystem.SandboxStatus> statuses,
        List<string> violations)
    {
        var targetsById = targets.ToDictionary(t => t.Id);
        foreach (var race in burst.Races.Where(r => r.Status == HttpStatusCode.OK))
        {
            switch (race.Kind)
            {
                case "cancel":
                    var answered = race.Body!["targets"]!.AsArray().Where(t => t!["status"]!.GetValue<string>() == "cancelled").Select(t => t!["id"]!.GetValue<string>());
                    foreach (string id in answered.Where(id => targetsById[id].Status != "cancelled"))
                    {
                        violations.Add($"{race.PostId}: a cancel answered 200 with {id} cancelled, now {targetsById[id].Status}");
                    }

                    break;
                case "cancel-target" when targetsById[race.TargetId!].Status != "cancelled":
                    violations.Add($"{race.PostId}: cancelling {race.TargetId} answered 200, now {targetsById[race.TargetId!].Status}");
                    break;
                case "reschedule-soon" or "reschedule-far" or "reschedule-then-cancel":
                    foreach (var target in targets.Where(t => t.PostId == race.PostId && t.Status == "published"))
                    {
                        var copy = statuses.FirstOrDefault(s => s.Id == target.ExternalPostId);
                        if (copy is not null && copy.ReceivedAt < race.NewTime!.Value - TimeSpan.FromMilliseconds(50))
                        {
                            violations.Add($"{race.PostId}: rescheduled to {race.NewTime:O} (200), yet {target.Id} published at {copy.ReceivedAt:O}");
                        }
                    }

                    if (race.Kind == "reschedule-far" && posts[race.PostId].Status != "scheduled")
                    {
                        violations.Add($"{race.PostId}: rescheduled an hour ahead (200), yet {posts[race.PostId].Status}");
                    }

                    break;
            }
        }
    }

    private static string Counts(IEnumerable<string> values)
        => "{" + string.Join(", ", values.GroupBy(v => v).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")) + "}";
}
