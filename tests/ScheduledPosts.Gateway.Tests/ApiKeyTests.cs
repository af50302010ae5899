using System.Net;
using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway whose key cache lasts half a second, so revocations show quickly.</summary>
public sealed class ApiKeyFixture() : EchoGatewayFixture(new Dictionary<string, string?> { ["ApiKeys:CacheDuration"] = CacheDuration.ToString() })
{
    public static readonly TimeSpan CacheDuration = TimeSpan.FromMilliseconds(500);
}

public sealed class ApiKeyTests(ApiKeyFixture fixture) : IClassFixture<ApiKeyFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task A_viewer_key_reads_its_workspace_but_cannot_write()
    {
        var viewer = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);

        var read = await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: viewer.Key)).EchoAsync();
        var identity = GatewayFactory.Identity(read);
        Assert.NotNull(identity);
        Assert.Equal(viewer.WorkspaceId, identity.WorkspaceId);
        Assert.Equal(viewer.KeyId, identity.KeyId);
        Assert.Equal(Roles.ScopesOf(Roles.Viewer).Order(), identity.Scopes.Order());

        string requestId = $"test-{Guid.NewGuid():N}";
        var write = await _client.SendAsync(HttpMethod.Post, "/v1/posts/post_1/cancel", bearer: viewer.Key, requestId: requestId);
        var error = await write.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        Assert.Contains(Scopes.PostsWrite, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Upstream.Received, r => r.Header("X-Request-Id").Contains(requestId));
    }

    [Fact]
    public async Task An_editor_writes_posts_but_not_webhook_endpoints()
    {
        var editor = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);

        await (await _client.SendAsync(HttpMethod.Post, "/v1/posts", apiKey: editor.Key)).EchoAsync();
        await (await _client.SendAsync(HttpMethod.Get, "/v1/webhook-endpoints", apiKey: editor.Key)).EchoAsync();
        var write = await _client.SendAsync(HttpMethod.Post, "/v1/webhook-endpoints", apiKey: editor.Key);
        await write.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
    }

    [Fact]
    public async Task A_key_granted_less_than_its_role_gets_only_what_it_was_granted()
    {
        var narrowed = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner, [Scopes.PostsRead]);

        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: narrowed.Key)).EchoAsync();
        var write = await _client.SendAsync(HttpMethod.Post, "/v1/posts", bearer: narrowed.Key);
        await write.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
    }

    [Fact]
    public async Task A_revoked_key_stops_working_within_seconds()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Admin);
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key)).EchoAsync();

        await TestKeys.RevokeAsync(fixture.ConnectionString, key.KeyId);

        var status = await Eventually.Until(
            async () => (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key)).StatusCode,
            s => s == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10), "the revoked key to be refused");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task Using_a_key_records_when_it_was_last_used()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        const string LastUsed = "SELECT last_used_at FROM gateway.api_keys WHERE id = @KeyId";
        Assert.Null(await connection.ExecuteScalarAsync<DateTime?>(LastUsed, new { key.KeyId }));

        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key)).EchoAsync();

        var lastUsed = await connection.ExecuteScalarAsync<DateTime?>(LastUsed, new { key.KeyId });
        Assert.NotNull(lastUsed);
        Assert.True(DateTime.UtcNow - lastUsed.Value < TimeSpan.FromMinutes(1), $"last_used_at {lastUsed} is not recent");
    }
}
