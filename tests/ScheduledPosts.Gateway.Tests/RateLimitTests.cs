using System.Net;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway whose keys may send bursts of 3 and 1 request/s after that.</summary>
public sealed class RateLimitFixture() : EchoGatewayFixture(new Dictionary<string, string?>
{
    ["RateLimits:Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ["RateLimits:RequestsPerSecond"] = "1",
})
{
    public const int Burst = 3;
}

public sealed class RateLimitTests(RateLimitFixture fixture) : IClassFixture<RateLimitFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task A_key_gets_its_burst_then_429s_with_Retry_After_while_other_keys_go_on()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);
        var other = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);

        var first = await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key);
        await first.EchoAsync();
        Assert.Equal("3", Header(first, "RateLimit-Limit"));
        Assert.Equal("2", Header(first, "RateLimit-Remaining"));
        Assert.Equal("3;w=3", Header(first, "RateLimit-Policy"));

        // Twice the burst at once: at most the burst (and what trickles back meanwhile) gets through.
        string marker = $"limited-{Guid.NewGuid():N}";
        var responses = await Task.WhenAll(Enumerable.Range(0, 2 * RateLimitFixture.Burst)
            .Select(i => _client.SendAsync(HttpMethod.Post, "/v1/posts", bearer: key.Key, requestId: $"{marker}-{i}")));

        var limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        foreach (var response in limited)
        {
            await response.AssertEnvelopeAsync(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
            Assert.True(int.Parse(Header(response, "Retry-After"), System.Globalization.CultureInfo.InvariantCulture) >= 1);
            Assert.Equal("0", Header(response, "RateLimit-Remaining"));
            Assert.DoesNotContain(fixture.Upstream.Received, r => r.Header("X-Request-Id").Contains(response.RequestId()));
        }

        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: other.Key)).EchoAsync();

        // The bucket refills: the key works again without anyone resetting anything.
        await Eventually.Until(async () => (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key)).StatusCode,
            s => s == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "the key's bucket to refill");
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_401_not_counted_against_anyone()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        for (int i = 0; i < 2 * RateLimitFixture.Burst; i++)
        {
            await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        }

        var response = await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key);
        await response.EchoAsync();
        Assert.Equal("2", Header(response, "RateLimit-Remaining"));
    }

    private static string Header(HttpResponseMessage response, string name) => response.Headers.GetValues(name).Single();
}
