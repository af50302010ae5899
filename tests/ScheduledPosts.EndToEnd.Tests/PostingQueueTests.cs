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

    private async Task<List<DateTimeOffset>> NextAsync(string account, int count)
    {
        var next = await stack.Gateway.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}/queue/next?count={count}");
        return next!["slots"]!.AsArray().Select(s => Instant(s!.GetValue<string>())).ToList();
    }

    private static DateTimeOffset Instant(string value) => DateTimeOffset.Parse(value, CultureInfo.InvariantCulture);
}
