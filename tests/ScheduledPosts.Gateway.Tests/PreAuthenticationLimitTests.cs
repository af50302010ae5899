using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.RateLimiting;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>
/// A gateway where an address may send <see cref="FailedBurst"/> invalid keys and gets no more back during a test, whose
/// key cache holds <see cref="CacheSize"/> keys of each kind for ten minutes, and whose workspaces may hold
/// <see cref="MaxKeys"/> active keys.
/// </summary>
public sealed class PreAuthenticationFixture() : EchoGatewayFixture(new Dictionary<string, string?>
{
    ["RateLimits:FailedAuthentication:Burst"] = FailedBurst.ToString(CultureInfo.InvariantCulture),
    ["RateLimits:FailedAuthentication:PerMinute"] = "1",
    ["ApiKeys:CacheSize"] = CacheSize.ToString(CultureInfo.InvariantCulture),
    ["ApiKeys:CacheDuration"] = "00:10:00",
    ["ApiKeys:MaxActivePerWorkspace"] = MaxKeys.ToString(CultureInfo.InvariantCulture),
})
{
    public const int FailedBurst = 5;
    public const int CacheSize = 20;
    public const int MaxKeys = 3;

    private int _nextAddress;

    /// <summary>A client whose requests come from an address no other client of this fixture uses.</summary>
    public HttpClient NewClient()
    {
        int n = Interlocked.Increment(ref _nextAddress);
        return ClientFrom(IPAddress.Parse($"10.1.{n / 250}.{n % 250 + 1}"));
    }

    public HttpClient ClientFrom(IPAddress address)
        => new(Gateway.Server.CreateHandler(context => context.Connection.RemoteIpAddress = address)) { BaseAddress = Gateway.Server.BaseAddress };
}

/// <summary>Issue 14, finding 4: made-up keys cost the database as little as possible and never cost a valid key anything.</summary>
public sealed class PreAuthenticationLimitTests(PreAuthenticationFixture fixture) : IClassFixture<PreAuthenticationFixture>
{
    [Fact]
    public async Task An_address_that_keeps_sending_invalid_keys_is_refused_without_a_lookup_while_other_addresses_are_not()
    {
        using var noisy = fixture.NewClient();
        using var neighbour = fixture.NewClient();
        var valid = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);

        for (int i = 0; i < PreAuthenticationFixture.FailedBurst; i++)
        {
            await (await noisy.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        }

        var refused = await noisy.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate());
        await refused.AssertEnvelopeAsync(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
        Assert.True(int.Parse(refused.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture) >= 1);

        // A valid key the gateway has not seen yet is refused from there too: the gateway did not look it up.
        await (await noisy.SendAsync(HttpMethod.Get, "/v1/posts", bearer: valid.Key)).AssertEnvelopeAsync(HttpStatusCode.TooManyRequests, "RATE_LIMITED");

        // Another address is not held back: it is told a bad key is bad, and its valid key works ...
        await (await neighbour.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        await (await neighbour.SendAsync(HttpMethod.Get, "/v1/posts", bearer: valid.Key)).EchoAsync();

        // ... and once the gateway knows the key valid, it works from the noisy address as well (a NAT shared with an attacker).
        await (await noisy.SendAsync(HttpMethod.Get, "/v1/posts", bearer: valid.Key)).EchoAsync();
    }

    [Fact]
    public async Task Addresses_of_one_IPv6_network_share_their_allowance()
    {
        using var first = fixture.ClientFrom(IPAddress.Parse("2001:db8:14:4::1"));
        using var sameNetwork = fixture.ClientFrom(IPAddress.Parse("2001:db8:14:4::2"));
        using var otherNetwork = fixture.ClientFrom(IPAddress.Parse("2001:db8:14:5::1"));

        for (int i = 0; i < PreAuthenticationFixture.FailedBurst; i++)
        {
            await (await first.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        }

        await (await sameNetwork.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.TooManyRequests, "RATE_LIMITED");
        await (await otherNetwork.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")]
    public void A_client_address_is_counted_by_itself_or_by_its_IPv6_network(string address, string partition)
        => Assert.Equal(partition, FailedAuthenticationLimiter.PartitionOf(IPAddress.Parse(address)));

    [Fact]
    public async Task Invalid_keys_never_push_a_valid_key_out_of_the_cache()
    {
        using var owner = fixture.NewClient();
        var valid = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);
        await (await owner.SendAsync(HttpMethod.Get, "/v1/posts", bearer: valid.Key)).EchoAsync();
        // Revoked behind the gateway's back: from now on only the cached lookup lets the key in.
        await TestKeys.RevokeAsync(fixture.ConnectionString, valid.KeyId);

        // Three times as many made-up keys as the cache holds, each from its own address so none is throttled.
        for (int i = 0; i < 3 * PreAuthenticationFixture.CacheSize; i++)
        {
            using var attacker = fixture.NewClient();
            await (await attacker.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate())).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        }

        // Still the cached lookup: had the flood evicted it, the database would now say revoked (401).
        await (await owner.SendAsync(HttpMethod.Get, "/v1/posts", bearer: valid.Key)).EchoAsync();
    }

    [Fact]
    public async Task A_workspace_cannot_hold_more_active_keys_than_its_cap_even_minting_them_at_once()
    {
        using var client = fixture.NewClient();
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        var minted = new List<string>();
        for (int i = 1; i < PreAuthenticationFixture.MaxKeys; i++)
        {
            minted.Add(await MintAsync(client, owner.Key, HttpStatusCode.Created));
        }

        await MintAsync(client, owner.Key, HttpStatusCode.Conflict);

        // Revoking makes room again; minting at once cannot take more room than there is.
        foreach (string id in minted)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{id}", bearer: owner.Key)).StatusCode);
        }

        var statuses = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            using var request = Http.Request(HttpMethod.Post, "/v1/api-keys", bearer: owner.Key);
            request.Content = JsonContent.Create(new { name = "at once", role = Roles.Viewer });
            return (await client.SendAsync(request)).StatusCode;
        }));
        Assert.Equal(PreAuthenticationFixture.MaxKeys - 1, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.All(statuses, s => Assert.Contains(s, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict }));

        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        Assert.Equal(PreAuthenticationFixture.MaxKeys, await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM gateway.api_keys WHERE workspace_id = @WorkspaceId AND revoked_at IS NULL", new { owner.WorkspaceId }));
    }

    private static async Task<string> MintAsync(HttpClient client, string ownerKey, HttpStatusCode expected)
    {
        using var request = Http.Request(HttpMethod.Post, "/v1/api-keys", bearer: ownerKey);
        request.Content = JsonContent.Create(new { name = "one more", role = Roles.Viewer });
        var response = await client.SendAsync(request);
        if (expected != HttpStatusCode.Created)
        {
            await response.AssertEnvelopeAsync(expected, "CONFLICT");
            return "";
        }

        Assert.Equal(expected, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }
}
