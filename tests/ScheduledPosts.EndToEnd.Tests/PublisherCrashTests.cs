using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>docs/guarantees.md: a publisher killed with SIGKILL in the middle of a burst loses nothing and duplicates nothing.</summary>
public sealed class PublisherCrashTests(PublisherCrashTests.ShortLeaseStack stack, ITestOutputHelper output) : IClassFixture<PublisherCrashTests.ShortLeaseStack>
{
    public sealed class ShortLeaseStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "scheduling")
            {
                // Claims cut off by the kill are found again quickly.
                environment["Publishing__Lease"] = "00:00:05";
                // The sandbox platform dedupes atomically, so a claim lost with its publisher may be retried soon.
                environment["Publishing__ExpiredClaimQuietPeriod"] = "00:00:02";
                environment["Publishing__ReaperInterval"] = "00:00:00.500";
                environment["Publishing__RetryBase"] = "00:00:00.300";
            }
        }
    }

    [Fact]
    public async Task Killing_the_publisher_mid_burst_of_500_targets_leaves_each_published_once_or_failed_with_a_reason()
    {
        const int posts = 100;
        const int accountsPerPost = 5;
        string run = Guid.NewGuid().ToString("N")[..8];
        var accounts = new List<string>();
        for (int i = 0; i < accountsPerPost; i++)
        {
            string handle = $"burst{run}{i}";
            accounts.Add(await stack.ConnectSandboxAccountAsync(handle));
            // Slow uploads keep the burst going long enough to kill the publisher in its middle.
            await stack.InjectFaultAsync(new { handle, latencyMs = 150 });
        }

        // All due at the same instant, far enough ahead to create them all first (16 at a time).
        var due = DateTimeOffset.UtcNow.AddSeconds(20);
        using var gate = new SemaphoreSlim(16);
        var ids = (await Task.WhenAll(Enumerable.Range(0, posts).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                return (await stack.CreatePostAsync($"burst {run} #{i}", accounts, due))["id"]!.GetValue<string>();
            }
            finally
            {
                gate.Release();
            }
        }))).ToList();
        Assert.True(DateTimeOffset.UtcNow < due, "creating the posts took longer than the lead before their due time");
        int before = await Eventually.Until(async () => (await stack.SandboxStatusesAsync()).Count(s => s.Status.StartsWith($"burst {run}", StringComparison.Ordinal)),
            n => n >= 100, TimeSpan.FromSeconds(60), "a fifth of the burst to be published");
        await stack["publisher"].KillAsync();
        int atKill = (await stack.SandboxStatusesAsync()).Count(s => s.Status.StartsWith($"burst {run}", StringComparison.Ordinal));
        Assert.True(atKill < posts * accountsPerPost, "the burst finished before the kill; the test proves nothing");
        await stack["publisher"].StartAsync();

        var settled = new List<JsonObject>();
        foreach (string id in ids)
        {
            settled.Add(await Eventually.Until(() => stack.GetPostAsync(id),
                p => p["status"]!.GetValue<string>() is "published" or "partially_published" or "failed", TimeSpan.FromSeconds(120), $"{id} to settle"));
        }

        var copies = (await stack.SandboxStatusesAsync()).Where(s => s.Status.StartsWith($"burst {run}", StringComparison.Ordinal))
            .GroupBy(s => (s.Status, s.Account)).ToDictionary(g => g.Key, g => g.Count());
        int published = 0;
        foreach (var post in settled)
        {
            string caption = post["caption"]!.GetValue<string>();
            foreach (var target in post["targets"]!.AsArray())
            {
                string handle = $"burst{run}{accounts.IndexOf(target!["socialAccountId"]!.GetValue<string>())}";
                copies.TryGetValue((caption, handle), out int count);
                if (target["status"]!.GetValue<string>() == "published")
                {
                    published++;
                    Assert.True(count == 1, $"{caption} on {handle}: {count} copies");
                }
                else
                {
                    Assert.Equal("failed", target["status"]!.GetValue<string>());
                    Assert.False(string.IsNullOrEmpty(target["errorCode"]?.GetValue<string>()), $"{caption} on {handle} failed without a reason");
                    Assert.True(count <= 1, $"{caption} on {handle}: {count} copies");
                }
            }
        }

        output.WriteLine($"{before} on the platform when the kill was ordered, {atKill} at the kill; {published} of {posts * accountsPerPost} published, the rest failed with a reason");
        Assert.Equal(copies.Values.Sum(), copies.Count); // nothing anywhere twice
    }

    [Fact]
    public async Task A_batch_of_due_messages_whose_posts_were_cancelled_rescheduled_or_deleted_meanwhile_publishes_exactly_the_live_ones()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string account = await stack.ConnectSandboxAccountAsync($"batch{run}");
        string[] roles = ["live 1", "cancelled", "live 2", "rescheduled", "deleted"];
        var ids = new Dictionary<string, string>();

        // No publisher: the due messages wait in its queue, as they would behind a busy one, and then go in one batch.
        await stack["publisher"].KillAsync();
        try
        {
            var due = DateTimeOffset.UtcNow.AddSeconds(1);
            foreach (string role in roles)
            {
                ids[role] = (await stack.CreatePostAsync($"batch {run} {role}", account, due))["id"]!.GetValue<string>();
            }

            string posts = string.Join(", ", ids.Values.Select(id => $"'{id}'"));
            await Eventually.Until(() => stack.ScalarAsync($"SELECT count(*) FROM scheduling.outbox WHERE message_type = 'TargetDue' AND sent_at IS NOT NULL AND post_id IN ({posts})"),
                sent => sent == "5", TimeSpan.FromSeconds(30), "every post's TargetDue sent to the waiting queue");

            // Their messages are on the bus already; now three of the posts change.
            await SucceedsAsync(stack.Gateway.PostAsJsonAsync($"/v1/posts/{ids["cancelled"]}/cancel", new { reason = "changed my mind" }));
            await SucceedsAsync(stack.Gateway.PostAsJsonAsync($"/v1/posts/{ids["rescheduled"]}/reschedule",
                new { scheduledFor = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) }));
            await SucceedsAsync(stack.Gateway.DeleteAsync($"/v1/posts/{ids["deleted"]}"));
        }
        finally
        {
            await stack["publisher"].StartAsync();
        }

        foreach (string role in new[] { "live 1", "live 2" })
        {
            await Eventually.Until(() => stack.GetPostAsync(ids[role]), p => p["status"]!.GetValue<string>() == "published", TimeSpan.FromSeconds(60), $"the {role} post to publish");
        }

        // Every message of the batch was taken up (a refused claim is marked too), so nothing more is coming.
        string stale = string.Join(", ", new[] { "cancelled", "rescheduled", "deleted" }.Select(role => $"'{ids[role]}'"));
        await Eventually.Until(() => stack.ScalarAsync($"SELECT count(*) FROM scheduling.outbox WHERE message_type = 'TargetDue' AND sent_at IS NOT NULL AND picked_at IS NULL AND post_id IN ({stale})"),
            left => left == "0", TimeSpan.FromSeconds(60), "the stale messages to be taken up");

        var onPlatform = (await stack.SandboxStatusesAsync()).Where(s => s.Status.StartsWith($"batch {run}", StringComparison.Ordinal)).Select(s => s.Status).Order();
        Assert.Equal([$"batch {run} live 1", $"batch {run} live 2"], onPlatform);
        Assert.Equal("cancelled", (await stack.GetPostAsync(ids["cancelled"]))["status"]!.GetValue<string>());
        var moved = await stack.GetPostAsync(ids["rescheduled"]);
        Assert.Equal(("scheduled", "scheduled"), (moved["status"]!.GetValue<string>(), moved["targets"]![0]!["status"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Gateway.GetAsync($"/v1/posts/{ids["deleted"]}")).StatusCode);

        static async Task SucceedsAsync(Task<HttpResponseMessage> call)
        {
            using var response = await call;
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
