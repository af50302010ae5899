using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Bulk operations through the real processes, racing the dispatcher and the publisher.</summary>
public sealed class BulkTests(BulkTests.UnthrottledStack stack, ITestOutputHelper output) : IClassFixture<BulkTests.UnthrottledStack>
{
    private const int Posts = 1000;
    private const int Accounts = 50;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>The test makes its thousand posts faster than a key's default rate allows.</summary>
    public sealed class UnthrottledStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "gateway")
            {
                environment["RateLimits__RequestsPerSecond"] = "100000";
                environment["RateLimits__Burst"] = "100000";
            }
        }
    }

    private static string Rfc3339(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static async Task<JsonObject> OkPostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path}: {(int)response.StatusCode} {text[..Math.Min(text.Length, 500)]}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static void AssertAllSucceeded(JsonObject answer)
    {
        var failures = answer["data"]!.AsArray().Where(r => !r!["ok"]!.GetValue<bool>())
            .GroupBy(r => r!["error"]!["code"]!.GetValue<string>()).Select(g => $"{g.Key} x{g.Count()}: {g.First()!["error"]!["message"]}").ToList();
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Fact]
    public async Task A_bulk_cancel_of_a_thousand_posts_racing_their_due_time_leaves_each_cancelled_or_published_as_its_result_says()
    {
        var owner = await stack.NewWorkspaceAsync("bulk");
        string run = Guid.NewGuid().ToString("N")[..8];
        var accounts = new List<string>();
        for (int i = 0; i < Accounts; i++)
        {
            accounts.Add((await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = $"bulk{run}{i}" }))["id"]!.GetValue<string>());
        }

        // A thousand posts an hour ahead, each with a caption of its own to find it on the platform.
        var captions = new string[Posts];
        var ids = new string[Posts];
        await Parallel.ForEachAsync(Enumerable.Range(0, Posts), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            captions[i] = $"bulk {run} #{i}";
            ids[i] = (await owner.CreatedAsync("/v1/posts", new
            {
                caption = captions[i],
                targets = new[] { new { socialAccountId = accounts[i % Accounts] } },
                scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(1)),
            }))["id"]!.GetValue<string>();
        });

        // How long a thousand changes take on this machine: a bulk reschedule further ahead.
        var measuring = DateTimeOffset.UtcNow;
        AssertAllSucceeded(await OkPostAsync(owner, "/v1/posts/bulk-reschedule", new { ids, scheduledFor = Rfc3339(measuring.AddHours(2)) }));
        var pass = DateTimeOffset.UtcNow - measuring;
        output.WriteLine($"bulk reschedule of {Posts} took {pass.TotalSeconds:0.0} s");

        // All due together once the next reschedule is surely done; the cancel starts just before that time and takes
        // about as long, so the dispatcher and the publisher take some posts while it works through the others.
        var due = DateTimeOffset.UtcNow + pass * 1.5 + TimeSpan.FromSeconds(3);
        AssertAllSucceeded(await OkPostAsync(owner, "/v1/posts/bulk-reschedule", new { ids, scheduledFor = Rfc3339(due) }));
        await Eventually.Until(() => Task.FromResult(DateTimeOffset.UtcNow >= due.AddMilliseconds(-300)), now => now, Patience, "the posts' due time to come");
        var started = DateTimeOffset.UtcNow;
        var cancel = await OkPostAsync(owner, "/v1/posts/bulk-cancel", new { ids, reason = "race" });
        output.WriteLine($"bulk cancel of {Posts} took {(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s");

        var results = cancel["data"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>(), r => r!.AsObject());
        Assert.Equal(Posts, results.Count);

        // Every post settles: cancelled, or published.
        await Eventually.Until(async () => (await owner.OkAsync("/v1/posts?status=scheduled,publishing&limit=1"))["data"]!.AsArray().Count,
            open => open == 0, Patience, "every post to settle");
        var final = new Dictionary<string, string>();
        string? cursor = null;
        do
        {
            var page = await owner.OkAsync($"/v1/posts?limit=100{(cursor is null ? "" : $"&cursor={cursor}")}");
            foreach (var post in page["data"]!.AsArray())
            {
                final[post!["id"]!.GetValue<string>()] = post["status"]!.GetValue<string>();
            }

            cursor = page["nextCursor"]?.GetValue<string>();
        }
        while (cursor is not null);

        var onPlatform = (await stack.SandboxStatusesAsync()).Where(s => s.Status.StartsWith($"bulk {run} #", StringComparison.Ordinal))
            .GroupBy(s => s.Status).ToDictionary(g => g.Key, g => g.Count());
        int cancelled = 0, published = 0;
        for (int i = 0; i < Posts; i++)
        {
            var result = results[ids[i]];
            string status = final[ids[i]];
            onPlatform.TryGetValue(captions[i], out int copies);
            if (status == "cancelled")
            {
                cancelled++;
                Assert.True(copies == 0, $"{ids[i]} is cancelled but on the platform {copies} time(s)");
                Assert.True(result["ok"]!.GetValue<bool>() && result["status"]!.GetValue<string>() == "cancelled", $"{ids[i]} is cancelled but its result says {result.ToJsonString()}");
            }
            else
            {
                published++;
                Assert.True(status == "published", $"{ids[i]} ended {status}");
                Assert.True(copies == 1, $"{ids[i]} is published, on the platform {copies} time(s)");
                Assert.True(!result["ok"]!.GetValue<bool>() && result["error"]!["code"]!.GetValue<string>() == "CONFLICT",
                    $"{ids[i]} was published but its result says {result.ToJsonString()}");
            }
        }

        Assert.Equal((cancelled, published), (cancel["summary"]!["succeeded"]!.GetValue<int>(), cancel["summary"]!["failed"]!.GetValue<int>()));
        output.WriteLine($"cancelled {cancelled}, published {published}");
    }
}
