using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Issue 14, finding 3 (SSRF through the Mastodon connector): connecting a Mastodon account is where a user-supplied
/// instance URL enters. With the service's default Outbound policy (a production install), one that points at a
/// loopback, private or metadata address, or is not https, is refused with a 422 and nothing is stored.
/// </summary>
public sealed class MastodonInstanceUrlTests(MastodonInstanceUrlTests.ProductionPolicyFactory factory) : IClassFixture<MastodonInstanceUrlTests.ProductionPolicyFactory>
{
    /// <summary>The policy's production values, set explicitly: test hosts run as Development, whose settings relax it.</summary>
    public sealed class ProductionPolicyFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Outbound:AllowHttp"] = "false";
            settings["Outbound:AllowLoopback"] = "false";
        }
    }

    [Theory]
    [InlineData("https://127.0.0.1:8081")]
    [InlineData("https://127.0.0.1/mastodon")]
    [InlineData("https://2130706433")]                          // 127.0.0.1 as one number
    [InlineData("https://[::1]")]
    [InlineData("https://localhost:8081")]
    [InlineData("https://api.localhost")]
    [InlineData("https://169.254.169.254/latest/meta-data")]    // AWS, Azure and GCP metadata
    [InlineData("https://[::ffff:169.254.169.254]")]
    [InlineData("https://[fd00:ec2::254]")]                     // AWS metadata over IPv6
    [InlineData("https://100.100.100.200")]                     // Alibaba metadata
    [InlineData("https://10.0.0.1")]
    [InlineData("https://192.168.1.1")]
    [InlineData("https://172.17.0.1")]
    [InlineData("http://mastodon.example")]                     // http only by configuration
    [InlineData("https://user:password@mastodon.example")]
    [InlineData("ftp://mastodon.example")]
    public async Task An_instance_url_the_outbound_policy_refuses_is_a_422_and_nothing_is_stored(string instanceUrl)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);

        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "mastodon",
            handle = "alice@mastodon.example",
            credentials = new { instanceUrl, accessToken = "token" },
        });

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Equal("credentials.instanceUrl", error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        Assert.DoesNotContain("token", error.GetRawText(), StringComparison.Ordinal);
        var listed = await client.GetFromJsonAsync<JsonObject>("/v1/social-accounts");
        Assert.Empty(listed!["data"]!.AsArray());
        Assert.Equal(0L, await CountAccountsAsync(workspace));
    }

    [Fact]
    public async Task A_public_https_instance_is_connected()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);

        // A name that does not resolve now is accepted: the publisher checks the addresses it resolves to when it connects.
        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "mastodon",
            handle = "alice@mastodon.test",
            credentials = new { instanceUrl = "https://mastodon.test", accessToken = "token" },
        });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(1L, await CountAccountsAsync(workspace));
    }

    private async Task<long> CountAccountsAsync(string workspace)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM scheduling.social_accounts WHERE workspace_id = @workspace", connection);
        command.Parameters.AddWithValue("workspace", workspace);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
