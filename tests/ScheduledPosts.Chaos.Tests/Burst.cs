using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// The load every scenario runs under: a few hundred posts, two targets each, due within a few seconds of each other,
/// and users racing the due time — cancelling posts and single targets, rescheduling a little later or an hour ahead,
/// rescheduling and then cancelling at the new time. What each request got back is kept for the invariant check.
/// </summary>
public sealed class Burst
{
    public sealed class PlannedPost(int index, string caption, string[] accountIds, DateTimeOffset due)
    {
        /// <summary>The post's place in the burst; negative for the parked posts, due in an hour and never touched.</summary>
        public int Index => index;
        public string Caption => caption;
        public string[] AccountIds => accountIds;
        public DateTimeOffset Due => due;
        public string Id { get; set; } = "";
        public string[] TargetIds { get; set; } = [];
    }

    /// <summary>One racing request and its answer (null: no answer, e.g. the service was down).</summary>
    public sealed record Race(string Kind, string PostId, string? TargetId, DateTimeOffset? NewTime, HttpStatusCode? Status, JsonObject? Body);

    private readonly ConcurrentBag<Race> _races = [];

    public string Run { get; } = Guid.NewGuid().ToString("N")[..8];
    public List<PlannedPost> Posts { get; } = [];
    public DateTimeOffset FirstDue { get; private set; }
    public DateTimeOffset LastDue { get; private set; }
    public int Seed { get; } = Random.Shared.Next();

    /// <summary>Completes when every racing request has had its answer.</summary>
    public Task Racing { get; private set; } = Task.CompletedTask;

    public IReadOnlyCollection<Race> Races => _races;

    /// <summary>The targets due in the burst (the parked posts' not counted).</summary>
    public int TargetCount => Posts.Where(p => p.Index >= 0).Sum(p => p.TargetIds.Length);

    public string CaptionPrefix => $"chaos {Run} #";

    /// <summary>
    /// Creates the posts, due over <paramref name="spread"/> from a lead long enough to create them all first, and sets the
    /// racers going. A few parked posts, due in an hour, come first: they measure how fast this machine creates posts
    /// (so the lead fits it), and must still be scheduled, untouched, at the end.
    /// </summary>
    /// <param name="warmUp">
    /// How many posts to publish first, one target each, waiting until they are out: the burst then meets a running
    /// system, not the first due work after a start, which pays for compiling the publishing path (docs/performance.md#cold-start).
    /// </param>
    public static async Task<Burst> StartAsync(ChaosSystem system, int posts = 200, TimeSpan? spread = null, int targetsPerPost = 2, int warmUp = 0)
    {
        const int Parked = 16;
        var burst = new Burst();
        var accounts = system.Accounts.Keys.ToArray();
        string[] AccountsFor(int i) => [.. Enumerable.Range(i, targetsPerPost).Select(a => accounts[a % accounts.Length])];

        if (warmUp > 0)
        {
            var soon = DateTimeOffset.UtcNow.AddSeconds(2);
            var warming = Enumerable.Range(1, warmUp)
                .Select(i => new PlannedPost(-100 - i, $"{burst.CaptionPrefix}warm{i}", [accounts[i % accounts.Length]], soon)).ToList();
            await CreateAsync(system, warming);
            burst.Posts.AddRange(warming);
            string ids = string.Join(", ", warming.Select(p => $"'{p.Id}'"));
            await Eventually.Until(() => system.CountAsync($"SELECT count(*) FROM scheduling.posts WHERE id IN ({ids}) AND status = 'published'"),
                published => published == warmUp, TimeSpan.FromSeconds(60), $"the {warmUp} warm-up posts to be published");
        }

        var probe = DateTimeOffset.UtcNow;
        var parked = Enumerable.Range(1, Parked)
            .Select(i => new PlannedPost(-i, $"{burst.CaptionPrefix}parked{i}", AccountsFor(i), probe + TimeSpan.FromHours(1))).ToList();
        await CreateAsync(system, parked);
        var perPost = (DateTimeOffset.UtcNow - probe) / Parked;
        burst.Posts.AddRange(parked);

        var start = DateTimeOffset.UtcNow;
        var lead = TimeSpan.FromSeconds(4) + perPost * posts * 2;
        burst.FirstDue = start + (lead > TimeSpan.FromSeconds(6) ? lead : TimeSpan.FromSeconds(6));
        var window = spread ?? TimeSpan.FromSeconds(3);
        var due = new List<PlannedPost>();
        for (int i = 0; i < posts; i++)
        {
            due.Add(new PlannedPost(i, $"{burst.CaptionPrefix}{i}", AccountsFor(i), burst.FirstDue + window * i / posts));
        }

        burst.LastDue = due[^1].Due;
        await CreateAsync(system, due);
        burst.Posts.AddRange(due);

        var created = DateTimeOffset.UtcNow;
        system.Output.WriteLine($"burst {burst.Run}: {posts} posts ({burst.TargetCount} targets) and {Parked} parked created in {(created - start).TotalSeconds:0.0} s, " +
            $"due {ChaosSystem.Iso(burst.FirstDue)} … {ChaosSystem.Iso(burst.LastDue)} (racer seed {burst.Seed})");
        Assert.True(created < burst.FirstDue - TimeSpan.FromSeconds(1),
            $"creating the posts took {(created - start).TotalSeconds:0.0} s, past the lead before their due time; the races would not race");
        burst.Racing = burst.RaceAsync(system);
        return burst;
    }

    private static async Task CreateAsync(ChaosSystem system, List<PlannedPost> posts)
    {
        using var parallel = new SemaphoreSlim(8);
        await Task.WhenAll(posts.Select(async post =>
        {
            await parallel.WaitAsync();
            try
            {
                var response = await system.Gateway.PostAsJsonAsync("/v1/posts", new
                {
                    caption = post.Caption,
                    targets = post.AccountIds.Select(a => new { socialAccountId = a }).ToArray(),
                    scheduledFor = ChaosSystem.Iso(post.Due),
                });
                Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
                var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
                post.Id = created["id"]!.GetValue<string>();
                post.TargetIds = [.. created["targets"]!.AsArray().Select(t => t!["id"]!.GetValue<string>())];
            }
            finally
            {
                parallel.Release();
            }
        }));
    }

    private Task RaceAsync(ChaosSystem system)
    {
        var random = new Random(Seed);
        var races = new List<Task>();
        foreach (var post in Posts.Where(p => p.Index >= 0))
        {
            // Jitter around the due time: some requests land before the dispatch, some during, some after the claim.
            TimeSpan Jitter(int fromMs, int toMs) => TimeSpan.FromMilliseconds(random.Next(fromMs, toMs));
            switch (post.Index % 20)
            {
                case 1 or 6 or 11 or 16:
                    races.Add(At(post.Due + Jitter(-300, 500), () => CancelAsync(system, post)));
                    break;
                case 3 or 13:
                    var soon = post.Due + TimeSpan.FromSeconds(2.5);
                    races.Add(At(post.Due + Jitter(-300, 300), () => RescheduleAsync(system, post, "reschedule-soon", soon)));
                    break;
                case 7:
                    var later = DateTimeOffset.UtcNow + TimeSpan.FromHours(1);
                    races.Add(At(post.Due + Jitter(-300, 0), () => RescheduleAsync(system, post, "reschedule-far", later)));
                    break;
                case 9 or 19:
                    races.Add(At(post.Due + Jitter(-300, 500), () => CancelTargetAsync(system, post, post.TargetIds[1])));
                    break;
                case 17:
                    var moved = post.Due + TimeSpan.FromSeconds(1.5);
                    var cancelAt = moved + Jitter(-300, 300);
                    races.Add(At(post.Due - TimeSpan.FromMilliseconds(500), async () =>
                    {
                        await RescheduleAsync(system, post, "reschedule-then-cancel", moved);
                        await Until(cancelAt);
                        await CancelAsync(system, post);
                    }));
                    break;
            }
        }

        return Task.WhenAll(races);
    }

    private static async Task Until(DateTimeOffset moment)
    {
        var wait = moment - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait); // the load's own timetable: when a user acts, not a wait for the system
        }
    }

    private static async Task At(DateTimeOffset moment, Func<Task> act)
    {
        await Until(moment);
        await act();
    }

    /// <summary>The burst's posts on the platform.</summary>
    public async Task<int> OnPlatformAsync(ChaosSystem system)
        => (await system.SandboxStatusesAsync()).Count(s => s.Status.StartsWith(CaptionPrefix, StringComparison.Ordinal));

    /// <summary>
    /// Waits until a quarter of the burst is on the platform. The patience counts from when the burst falls due: on a
    /// loaded machine creating it pushes its due time well ahead, and that lead is not the system's to make up.
    /// </summary>
    public Task<int> AQuarterPublishedAsync(ChaosSystem system, TimeSpan patience)
    {
        var untilDue = FirstDue - DateTimeOffset.UtcNow;
        return Eventually.Until(() => OnPlatformAsync(system), n => n >= TargetCount / 4,
            patience + (untilDue > TimeSpan.Zero ? untilDue : TimeSpan.Zero), "a quarter of the burst on the platform");
    }

    /// <summary>
    /// Creates a post outside the burst (another workspace's, through <paramref name="client"/>) that the invariant check
    /// covers too; no racer touches it.
    /// </summary>
    public async Task<PlannedPost> AddPostAsync(HttpClient client, string accountId, DateTimeOffset due)
    {
        var post = new PlannedPost(-1000 - Posts.Count, $"{CaptionPrefix}other{Posts.Count}", [accountId], due);
        var response = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption = post.Caption,
            targets = new[] { new { socialAccountId = accountId } },
            scheduledFor = ChaosSystem.Iso(due),
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        post.Id = created["id"]!.GetValue<string>();
        post.TargetIds = [.. created["targets"]!.AsArray().Select(t => t!["id"]!.GetValue<string>())];
        Posts.Add(post);
        return post;
    }

    /// <summary>Cancels <paramref name="post"/> now, as a user would; the answer is checked with the racers'.</summary>
    public Task CancelAsync(ChaosSystem system, PlannedPost post)
        => SendAsync("cancel", post.Id, null, null, () => system.Gateway.PostAsJsonAsync($"/v1/posts/{post.Id}/cancel", new { reason = "chaos" }));

    private Task CancelTargetAsync(ChaosSystem system, PlannedPost post, string targetId)
        => SendAsync("cancel-target", post.Id, targetId, null,
            () => system.Gateway.PostAsJsonAsync($"/v1/posts/{post.Id}/targets/{targetId}/cancel", new { reason = "chaos" }));

    private Task RescheduleAsync(ChaosSystem system, PlannedPost post, string kind, DateTimeOffset to)
        => SendAsync(kind, post.Id, null, to,
            () => system.Gateway.PostAsJsonAsync($"/v1/posts/{post.Id}/reschedule", new { scheduledFor = ChaosSystem.Iso(to) }));

    private async Task SendAsync(string kind, string postId, string? targetId, DateTimeOffset? newTime, Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            using var response = await send();
            JsonObject? body = response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonObject>() : null;
            _races.Add(new Race(kind, postId, targetId, newTime, response.StatusCode, body));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // The gateway or the service behind it was down: the request may or may not have been applied.
            _races.Add(new Race(kind, postId, targetId, newTime, null, null));
        }
    }

    public string Summary()
        => string.Join(", ", Races.GroupBy(r => r.Kind).OrderBy(g => g.Key).Select(g =>
            $"{g.Key}: " + string.Join("/", g.GroupBy(r => r.Status is { } s ? ((int)s).ToString(System.Globalization.CultureInfo.InvariantCulture) : "no answer")
                .OrderBy(s => s.Key).Select(s => $"{s.Count()}×{s.Key}"))));
}
