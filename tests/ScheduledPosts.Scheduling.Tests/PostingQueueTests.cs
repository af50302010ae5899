using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Posting queues over REST and gRPC against the real database: slots, next free slots, queued posts taking and freeing them.</summary>
public sealed class PostingQueueTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    private static readonly object Daily9And21 = new
    {
        timezone = "America/New_York",
        slots = new[] { "mon", "tue", "wed", "thu", "fri", "sat", "sun" }.SelectMany(d => new[] { new { day = d, time = "09:00" }, new { day = d, time = "21:00" } }),
    };

    private HttpClient NewWorkspace() => factory.Client($"ws_{Guid.NewGuid():N}");

    private static async Task<List<DateTimeOffset>> NextAsync(HttpClient client, string account, int count = 10)
    {
        var (status, body) = await SendAsync(client, HttpMethod.Get, $"/v1/social-accounts/{account}/queue/next?count={count}");
        Assert.Equal(HttpStatusCode.OK, status);
        return body["slots"]!.AsArray().Select(s => Instant(s!.GetValue<string>())).ToList();
    }

    private static DateTimeOffset Instant(string value) => DateTimeOffset.Parse(value, CultureInfo.InvariantCulture);

    private static async Task<JsonObject> QueuedPostAsync(HttpClient client, params string[] accounts)
    {
        var (status, body) = await SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "From the queue",
            targets = accounts.Select(a => new { socialAccountId = a }),
            queue = true,
        });
        Assert.True(status == HttpStatusCode.Created, body.ToJsonString());
        Assert.Equal("scheduled", Status(body));
        return body;
    }

    private static DateTimeOffset ScheduledFor(JsonObject post) => Instant(post["scheduledFor"]!.GetValue<string>());

    [Fact]
    public async Task A_queue_is_set_and_read_back_and_a_bad_one_is_422_on_its_field_changing_nothing()
    {
        var client = NewWorkspace();
        string account = await ConnectAccountAsync(client);
        var (status, empty) = await SendAsync(client, HttpMethod.Get, $"/v1/social-accounts/{account}/queue");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Null(empty["timezone"]);
        Assert.Empty(empty["slots"]!.AsArray());

        (status, var saved) = await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue",
            new { timezone = "Europe/Paris", slots = new[] { new { day = "wed", time = "17:30" }, new { day = "mon", time = "09:00" } } });
        Assert.Equal(HttpStatusCode.OK, status);
        (status, var read) = await SendAsync(client, HttpMethod.Get, $"/v1/social-accounts/{account}/queue");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Europe/Paris", read["timezone"]!.GetValue<string>());
        Assert.Equal("""[{"day":"mon","time":"09:00"},{"day":"wed","time":"17:30"}]""", read["slots"]!.ToJsonString());
        Assert.Equal(saved.ToJsonString(), read.ToJsonString());

        foreach (var (bad, path) in new (object, string)[]
        {
            (new { timezone = "Paris", slots = Array.Empty<object>() }, "timezone"),
            (new { timezone = "Europe/Paris", slots = new[] { new { day = "monday", time = "09:00" } } }, "slots[0].day"),
            (new { timezone = "Europe/Paris", slots = new[] { new { day = "mon", time = "09:00" }, new { day = "tue", time = "25:00" } } }, "slots[1].time"),
            (new { timezone = "Europe/Paris", slots = Enumerable.Range(0, 101).Select(i => new { day = "mon", time = $"{i / 60:00}:{i % 60:00}" }) }, "slots"),
        })
        {
            var (badStatus, error) = await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", bad);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, badStatus);
            Assert.Equal("VALIDATION", ErrorCode(error));
            Assert.Equal(path, error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        (_, var after) = await SendAsync(client, HttpMethod.Get, $"/v1/social-accounts/{account}/queue");
        Assert.Equal(read.ToJsonString(), after.ToJsonString());

        // Another workspace's account is not found, for reading and writing alike.
        var other = NewWorkspace();
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(other, HttpMethod.Get, $"/v1/social-accounts/{account}/queue")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(other, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", Daily9And21)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(other, HttpMethod.Get, $"/v1/social-accounts/{account}/queue/next")).Status);
    }

    [Fact]
    public async Task Next_lists_the_free_slots_in_utc_at_the_wall_clock_time_of_the_zone()
    {
        var client = NewWorkspace();
        string account = await ConnectAccountAsync(client);
        Assert.Empty(await NextAsync(client, account));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", Daily9And21)).Status);

        var next = await NextAsync(client, account, 100);
        Assert.Equal(100, next.Count);
        Assert.Equal(next.Order(), next);
        Assert.True(next[0] > DateTimeOffset.UtcNow.AddSeconds(-5));
        Assert.True(next[0] <= DateTimeOffset.UtcNow.AddHours(12).AddSeconds(5), "the first free slot is within 12 hours");
        // Checked against .NET's own zone data: each is 09:00 or 21:00 in New York, whatever the offset that day.
        Assert.All(next, instant => Assert.Contains(TimeZoneInfo.ConvertTime(instant, NewYork).TimeOfDay, new[] { TimeSpan.FromHours(9), TimeSpan.FromHours(21) }));
        Assert.Equal(10, (await NextAsync(client, account)).Count);

        foreach (string count in new[] { "0", "101", "ten" })
        {
            var (status, _) = await SendAsync(client, HttpMethod.Get, $"/v1/social-accounts/{account}/queue/next?count={count}");
            Assert.True(status is HttpStatusCode.UnprocessableEntity or HttpStatusCode.BadRequest, $"count={count}: {status}");
        }
    }

    [Fact]
    public async Task Queued_posts_take_successive_slots_and_cancel_delete_and_reschedule_free_theirs()
    {
        var client = NewWorkspace();
        string account = await ConnectAccountAsync(client);
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", Daily9And21);
        var free = await NextAsync(client, account, 5);

        var first = await QueuedPostAsync(client, account);
        var second = await QueuedPostAsync(client, account);
        var third = await QueuedPostAsync(client, account);
        Assert.Equal(free.Take(3), new[] { first, second, third }.Select(ScheduledFor));
        Assert.Equal(free.Skip(3).Take(2), (await NextAsync(client, account)).Take(2));

        // An explicitly scheduled post at a slot takes it too.
        await CreatePostAsync(client, [account], free[3]);
        Assert.Equal(free[4], ScheduledFor(await QueuedPostAsync(client, account)));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{first["id"]}/cancel", new { })).Status);
        Assert.Equal(free[0], (await NextAsync(client, account))[0]);
        Assert.Equal(free[0], ScheduledFor(await QueuedPostAsync(client, account)));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{second["id"]}")).Status);
        Assert.Equal(free[1], (await NextAsync(client, account))[0]);

        var later = free[4].AddDays(30);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/v1/posts/{third["id"]}/reschedule", new { scheduledFor = Rfc3339(later) })).Status);
        Assert.Equal([free[1], free[2]], (await NextAsync(client, account)).Take(2));
    }

    [Fact]
    public async Task A_post_to_two_accounts_takes_the_earliest_slot_in_both_queues_and_free_in_each()
    {
        var client = NewWorkspace();
        string alice = await ConnectAccountAsync(client, "alice");
        string bob = await ConnectAccountAsync(client, "bob");
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{alice}/queue", Daily9And21);
        // Bob's evenings are Alice's 21:00 in New York, said in Los Angeles.
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{bob}/queue", new
        {
            timezone = "America/Los_Angeles",
            slots = new[] { "mon", "tue", "wed", "thu", "fri", "sat", "sun" }.Select(d => new { day = d, time = "18:00" }),
        });
        var bobsFree = await NextAsync(client, bob, 3);
        var takenByBob = await QueuedPostAsync(client, bob);
        Assert.Equal(bobsFree[0], ScheduledFor(takenByBob));

        var both = await QueuedPostAsync(client, alice, bob);
        Assert.Equal(bobsFree[1], ScheduledFor(both));
        Assert.Equal(TimeSpan.FromHours(21), TimeZoneInfo.ConvertTime(ScheduledFor(both), NewYork).TimeOfDay);
        Assert.DoesNotContain(ScheduledFor(both), await NextAsync(client, alice, 100));
        Assert.Equal(bobsFree[2], (await NextAsync(client, bob))[0]);
    }

    [Fact]
    public async Task A_queued_post_without_a_slot_is_422_on_queue_and_nothing_is_created()
    {
        var client = NewWorkspace();
        string account = await ConnectAccountAsync(client);
        string other = await ConnectAccountAsync(client, "bob");
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", new { timezone = "Europe/Paris", slots = new[] { new { day = "mon", time = "09:00" } } });
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{other}/queue", new { timezone = "Europe/Paris", slots = new[] { new { day = "mon", time = "10:00" } } });

        foreach (var body in new object[]
        {
            new { caption = "x", targets = new[] { new { socialAccountId = other }, new { socialAccountId = account } }, queue = true }, // no common slot
            new { caption = "x", targets = new[] { new { socialAccountId = account } }, queue = true, scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(1)) },
        })
        {
            var (status, error) = await SendAsync(client, HttpMethod.Post, "/v1/posts", body);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
            Assert.Equal("queue", error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{other}/queue", new { timezone = "Europe/Paris", slots = Array.Empty<object>() });
        var (noSlots, _) = await SendAsync(client, HttpMethod.Post, "/v1/posts", new { caption = "x", targets = new[] { new { socialAccountId = other } }, queue = true });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noSlots);

        // Thirteen Mondays fill the 90 days: the fourteenth queued post has nowhere to go.
        var free = await NextAsync(client, account, 100);
        foreach (var _ in free)
        {
            await QueuedPostAsync(client, account);
        }

        var (full, fullError) = await SendAsync(client, HttpMethod.Post, "/v1/posts", new { caption = "x", targets = new[] { new { socialAccountId = account } }, queue = true });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, full);
        Assert.Contains("90 days", fullError["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var (_, list) = await SendAsync(client, HttpMethod.Get, "/v1/posts?limit=100");
        Assert.Equal(free.Count, list["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task Twenty_concurrent_queued_posts_take_twenty_different_slots()
    {
        var client = NewWorkspace();
        string account = await ConnectAccountAsync(client);
        await SendAsync(client, HttpMethod.Put, $"/v1/social-accounts/{account}/queue", Daily9And21);
        var free = await NextAsync(client, account, 20);

        var posts = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => QueuedPostAsync(client, account))));
        Assert.Equal(free, posts.Select(ScheduledFor).Order());
    }

    [Fact]
    public async Task The_gRPC_API_sets_reads_and_lists_a_queue_and_CreatePost_takes_a_slot()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var identity = new InternalIdentity(workspace, "key_grpc", ["accounts:read", "accounts:write", "posts:read", "posts:write"]);
        var accounts = factory.SocialAccountsClient(identity);
        var posts = factory.PostsClient(identity);
        var account = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "alice" });

        var update = new UpdateQueueRequest { SocialAccountId = account.Id, Timezone = "America/New_York" };
        update.Slots.Add(new QueueSlot { Day = Weekday.Friday, Time = "21:00" });
        update.Slots.Add(new QueueSlot { Day = Weekday.Monday, Time = "09:00" });
        var queue = await accounts.UpdateQueueAsync(update);
        Assert.Equal([(Weekday.Monday, "09:00"), (Weekday.Friday, "21:00")], queue.Slots.Select(s => (s.Day, s.Time)));
        Assert.Equal(queue, await accounts.GetQueueAsync(new GetQueueRequest { SocialAccountId = account.Id }));

        var slots = (await accounts.ListQueueSlotsAsync(new ListQueueSlotsRequest { SocialAccountId = account.Id, PageSize = 3 })).SlotTimes;
        Assert.Equal(3, slots.Count);
        var post = await posts.CreatePostAsync(new Contracts.Scheduling.V1.CreatePostRequest
        {
            Caption = "Queued over gRPC",
            Targets = { new TargetSpec { SocialAccountId = account.Id } },
            Queue = true,
        });
        Assert.Equal(slots[0], post.ScheduledFor);
        Assert.Equal(slots[1], (await accounts.ListQueueSlotsAsync(new ListQueueSlotsRequest { SocialAccountId = account.Id })).SlotTimes[0]);

        var badTime = new UpdateQueueRequest { SocialAccountId = account.Id, Timezone = "America/New_York" };
        badTime.Slots.Add(new QueueSlot { Day = Weekday.Monday, Time = "9am" });
        Assert.Equal(["slots[0].time"], Fields(await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await accounts.UpdateQueueAsync(badTime))));
        var noDay = new UpdateQueueRequest { SocialAccountId = account.Id, Timezone = "America/New_York" };
        noDay.Slots.Add(new QueueSlot { Time = "09:00" });
        Assert.Equal(["slots[0].day"], Fields(await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await accounts.UpdateQueueAsync(noDay))));
        Assert.Equal(["page_size"], Fields(await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await accounts.ListQueueSlotsAsync(new ListQueueSlotsRequest { SocialAccountId = account.Id, PageSize = 101 }))));
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await accounts.GetQueueAsync(new GetQueueRequest { SocialAccountId = "acc_nope" }));

        // A later week's calendar: Monday 9 August 2027, 09:00 EDT, is the first slot after the Sunday before.
        var later = await accounts.ListQueueSlotsAsync(new ListQueueSlotsRequest
        {
            SocialAccountId = account.Id, PageSize = 1, FromTime = Timestamp.FromDateTimeOffset(new DateTimeOffset(2027, 8, 8, 0, 0, 0, TimeSpan.Zero)),
        });
        Assert.Equal(Timestamp.FromDateTimeOffset(new DateTimeOffset(2027, 8, 9, 13, 0, 0, TimeSpan.Zero)), Assert.Single(later.SlotTimes));
        Assert.Equal(["from_time"], Fields(await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await accounts.ListQueueSlotsAsync(
            new ListQueueSlotsRequest { SocialAccountId = account.Id, FromTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddYears(2)) }))));
    }
}
