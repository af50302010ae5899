using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Posting queues through the gateway and the real scheduling process.</summary>
public sealed class PostingQueueTests(Stack stack) : IClassFixture<Stack>
{
    [Fact]
    public async Task Twenty_concurrent_queued_creates_on_one_account_take_twenty_different_slots()
    {
        string account = await stack.ConnectSandboxAccountAsync($"queue-{Guid.NewGuid():N}");
        var put = await stack.Gateway.PutAsJsonAsync($"/v1/social-accounts/{account}/queue", new
        {
            timezone = "Europe/Paris",
            slots = new[] { "mon", "tue", "wed", "thu", "fri", "sat", "sun" }.SelectMany(day => new[] { "08:00", "12:30", "18:00" }.Select(time => new { day, time })),
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var free = await NextAsync(account, 20);
        Assert.Equal(20, free.Count);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => stack.Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption = $"Queued {i}",
            targets = new[] { new { socialAccountId = account } },
            queue = true,
        }))));
        var posts = new List<JsonObject>();
        foreach (var response in responses)
        {
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
            posts.Add((await response.Content.ReadFromJsonAsync<JsonObject>())!);
        }

        var taken = posts.Select(p => Instant(p["scheduledFor"]!.GetValue<string>())).Order().ToList();
        Assert.Equal(free, taken);
        Assert.All(posts, p => Assert.Equal("scheduled", p["status"]!.GetValue<string>()));
        Assert.DoesNotContain((await NextAsync(account, 10))[0], taken);
    }

    // Slots on Sundays at 01:30, 02:30 and 09:00 local time, listed from the day before each 2027 transition: the six
    // instants are that Sunday's three and the next Sunday's. Spring forward: 02:30 does not exist and becomes the first
    // instant after the gap (03:00 summer time). Autumn: the repeated wall-clock time is one slot, its earlier occurrence.
    [Theory]
    [InlineData("Europe/Paris", "2027-03-27T12:00:00Z", // 28 March: 02:00 CET → 03:00 CEST
        "2027-03-28T00:30:00Z 2027-03-28T01:00:00Z 2027-03-28T07:00:00Z 2027-04-03T23:30:00Z 2027-04-04T00:30:00Z 2027-04-04T07:00:00Z")]
    [InlineData("Europe/Paris", "2027-10-30T12:00:00Z", // 31 October: 03:00 CEST → 02:00 CET, 02:30 happens twice
        "2027-10-30T23:30:00Z 2027-10-31T00:30:00Z 2027-10-31T08:00:00Z 2027-11-07T00:30:00Z 2027-11-07T01:30:00Z 2027-11-07T08:00:00Z")]
    [InlineData("America/New_York", "2027-03-13T12:00:00Z", // 14 March: 02:00 EST → 03:00 EDT
        "2027-03-14T06:30:00Z 2027-03-14T07:00:00Z 2027-03-14T13:00:00Z 2027-03-21T05:30:00Z 2027-03-21T06:30:00Z 2027-03-21T13:00:00Z")]
    [InlineData("America/New_York", "2027-11-06T12:00:00Z", // 7 November: 02:00 EDT → 01:00 EST, 01:30 happens twice
        "2027-11-07T05:30:00Z 2027-11-07T07:30:00Z 2027-11-07T14:00:00Z 2027-11-14T06:30:00Z 2027-11-14T07:30:00Z 2027-11-14T14:00:00Z")]
    public async Task Slots_across_a_daylight_saving_change_land_on_the_zones_wall_clock_time(string timezone, string from, string expected)
    {
        string account = await stack.ConnectSandboxAccountAsync($"dst-{Guid.NewGuid():N}");
        var put = await stack.Gateway.PutAsJsonAsync($"/v1/social-accounts/{account}/queue", new
        {
            timezone,
            slots = new[] { "01:30", "02:30", "09:00" }.Select(time => new { day = "sun", time }),
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var slots = await NextAsync(account, 6, from);

        Assert.Equal(expected.Split(' ').Select(Instant), slots);
    }

    [Theory]
    [InlineData("tomorrow")]
    [InlineData("2027-03-27T12:00:00")] // no offset
    [InlineData("2099-01-01T00:00:00Z")] // more than 366 days ahead
    public async Task A_bad_from_is_422_on_from(string from)
    {
        string account = await stack.ConnectSandboxAccountAsync($"from-{Guid.NewGuid():N}");

        var response = await stack.Gateway.GetAsync($"/v1/social-accounts/{account}/queue/next?from={Uri.EscapeDataString(from)}");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("VALIDATION", error["code"]!.GetValue<string>());
        Assert.Equal("from", error["details"]!["issues"]![0]!["path"]!.GetValue<string>());
    }

    private async Task<List<DateTimeOffset>> NextAsync(string account, int count, string? from = null)
    {
        string after = from is null ? "" : $"&from={Uri.EscapeDataString(from)}";
        var next = await stack.Gateway.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}/queue/next?count={count}{after}");
        return next!["slots"]!.AsArray().Select(s => Instant(s!.GetValue<string>())).ToList();
    }

    private static DateTimeOffset Instant(string value) => DateTimeOffset.Parse(value, CultureInfo.InvariantCulture);
}
