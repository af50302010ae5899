using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>
/// Two gateway replicas on one database: <see cref="Gateway"/> keeps key lookups for an hour (so a refusal right after a
/// revocation through it proves the revocation, not the cache, did it), <see cref="Replica"/> for half a second.
/// </summary>
public sealed class ApiKeysFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string ConnectionString { get; private set; } = "";
    public EchoUpstream Upstream { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;
    public GatewayFactory Replica { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Upstream = _resources.Add(await EchoUpstream.StartAsync());
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address,
            extra: new Dictionary<string, string?> { ["ApiKeys:CacheDuration"] = "01:00:00" }));
        _ = Gateway.Server;
        Replica = _resources.Add(GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address,
            extra: new Dictionary<string, string?> { ["ApiKeys:CacheDuration"] = "00:00:00.5" }));
        _ = Replica.Server;
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();
}

public sealed class ApiKeysApiTests(ApiKeysFixture fixture) : IClassFixture<ApiKeysFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task A_minted_key_shows_its_secret_once_works_at_once_and_is_stored_only_as_a_hash()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);

        var minted = await MintAsync(owner.Key, new { name = "  ci deploys  ", role = "editor" });

        string secret = minted.GetProperty("secret").GetString()!;
        string id = minted.GetProperty("id").GetString()!;
        Assert.StartsWith("key_", id, StringComparison.Ordinal);
        Assert.Equal("ci deploys", minted.GetProperty("name").GetString());
        Assert.Equal("editor", minted.GetProperty("role").GetString());
        Assert.Equal(Roles.ScopesOf(Roles.Editor).Order(), Strings(minted.GetProperty("scopes")).Order());
        Assert.StartsWith(minted.GetProperty("prefix").GetString()!, secret, StringComparison.Ordinal);
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).EchoAsync();

        var listed = await ListAsync(owner.Key);
        var entry = Assert.Single(listed, k => k.GetProperty("id").GetString() == id);
        Assert.False(entry.TryGetProperty("secret", out _));
        Assert.DoesNotContain(secret, JsonSerializer.Serialize(listed), StringComparison.Ordinal);
        var one = await (await _client.SendAsync(HttpMethod.Get, $"/v1/api-keys/{id}", bearer: owner.Key)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(one.TryGetProperty("secret", out _));

        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        string row = await connection.ExecuteScalarAsync<string>("SELECT row_to_json(k)::text FROM gateway.api_keys k WHERE id = @id", new { id }) ?? "";
        Assert.DoesNotContain(secret, row, StringComparison.Ordinal);
        Assert.Equal(ApiKeySecret.Hash(secret), await connection.ExecuteScalarAsync<byte[]>("SELECT hash FROM gateway.api_keys WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task Explicit_scopes_narrow_a_key_to_exactly_those()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        var minted = await MintAsync(owner.Key, new { name = "reader", role = "admin", scopes = new[] { "posts:read", "posts:read", "webhooks:read" } });
        string secret = minted.GetProperty("secret").GetString()!;

        Assert.Equal(["posts:read", "webhooks:read"], Strings(minted.GetProperty("scopes")).Order());
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).EchoAsync();
        await (await _client.SendAsync(HttpMethod.Get, "/v1/social-accounts", bearer: secret)).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        await (await _client.SendAsync(HttpMethod.Get, "/v1/api-keys", bearer: secret)).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
    }

    public static TheoryData<string, string> InvalidKeys => new()
    {
        { """{"role": "viewer"}""", "name" },
        { """{"name": "   ", "role": "viewer"}""", "name" },
        { $$"""{"name": "{{new string('n', 101)}}", "role": "viewer"}""", "name" },
        { """{"name": "tab\there", "role": "viewer"}""", "name" },
        { """{"name": "x"}""", "role" },
        { """{"name": "x", "role": "superuser"}""", "role" },
        { """{"name": "x", "role": "Owner"}""", "role" },
        { """{"name": "x", "role": "viewer", "scopes": []}""", "scopes" },
        { """{"name": "x", "role": "viewer", "scopes": ["posts:delete"]}""", "scopes[0]" },
        { """{"name": "x", "role": "viewer", "scopes": ["posts:read", "posts:write"]}""", "scopes[1]" },
        { """{"name": "x", "role": "editor", "scopes": [null]}""", "scopes[0]" },
    };

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task An_invalid_key_request_is_a_422_on_the_field_and_mints_nothing(string body, string path)
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);

        var response = await _client.SendAsync(Post("/v1/api-keys", owner.Key, body));

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Contains(error.GetProperty("details").GetProperty("issues").EnumerateArray(), i => i.GetProperty("path").GetString() == path);
        Assert.Single(await ListAsync(owner.Key));
    }

    [Fact]
    public async Task Another_workspace_never_sees_nor_revokes_a_key_it_does_not_own()
    {
        var ours = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        var theirs = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        string mintedId = (await MintAsync(ours.Key, new { name = "ours", role = "viewer" })).GetProperty("id").GetString()!;

        Assert.DoesNotContain(await ListAsync(theirs.Key), k => k.GetProperty("id").GetString() is { } id && (id == mintedId || id == ours.KeyId));
        Assert.Equal([theirs.KeyId], (await ListAsync(theirs.Key)).Select(k => k.GetProperty("id").GetString()));
        foreach (string id in new[] { mintedId, ours.KeyId })
        {
            await (await _client.SendAsync(HttpMethod.Get, $"/v1/api-keys/{id}", bearer: theirs.Key)).AssertEnvelopeAsync(HttpStatusCode.NotFound, "NOT_FOUND");
            await (await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{id}", bearer: theirs.Key)).AssertEnvelopeAsync(HttpStatusCode.NotFound, "NOT_FOUND");
        }

        Assert.All(await ListAsync(ours.Key), k => Assert.Equal(JsonValueKind.Null, k.GetProperty("revokedAt").ValueKind));
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ours.Key)).EchoAsync();
    }

    [Fact]
    public async Task A_revoked_key_is_refused_at_once_by_the_replica_that_revoked_it_and_within_seconds_by_the_others()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        string secret = (await MintAsync(owner.Key, new { name = "leaked", role = "editor" })).GetProperty("secret").GetString()!;
        string id = (await ListAsync(owner.Key)).Single(k => k.GetProperty("name").GetString() == "leaked").GetProperty("id").GetString()!;
        var replica = fixture.Replica.CreateClient();
        // Both replicas now hold the key in their caches.
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).EchoAsync();
        await (await replica.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).EchoAsync();

        var revoke = await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{id}", bearer: owner.Key);

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        var revoked = await revoke.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.String, revoked.GetProperty("revokedAt").ValueKind);
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        await Eventually.Until(async () => (await replica.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).StatusCode,
            s => s == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10), "the other replica to refuse the revoked key");

        var again = await (await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{id}", bearer: owner.Key)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(revoked.GetProperty("revokedAt").GetString(), again.GetProperty("revokedAt").GetString());
        Assert.Equal(revoked.GetProperty("revokedAt").GetString(),
            (await ListAsync(owner.Key)).Single(k => k.GetProperty("id").GetString() == id).GetProperty("revokedAt").GetString());
    }

    [Fact]
    public async Task The_last_active_owner_key_cannot_be_revoked_but_one_of_two_can()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);

        var alone = await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{owner.KeyId}", bearer: owner.Key);
        await alone.AssertEnvelopeAsync(HttpStatusCode.Conflict, "CONFLICT");

        string second = (await MintAsync(owner.Key, new { name = "second owner", role = "owner" })).GetProperty("secret").GetString()!;
        var revoke = await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{owner.KeyId}", bearer: second);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: owner.Key)).AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
    }

    [Fact]
    public async Task An_admin_manages_keys_but_neither_mints_nor_revokes_owner_keys()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner);
        string admin = (await MintAsync(owner.Key, new { name = "admin", role = "admin" })).GetProperty("secret").GetString()!;

        var editor = await MintAsync(admin, new { name = "by the admin", role = "editor" });
        Assert.Equal("editor", editor.GetProperty("role").GetString());
        await (await _client.SendAsync(Post("/v1/api-keys", admin, """{"name": "x", "role": "owner"}"""))).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        await (await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{owner.KeyId}", bearer: admin)).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        var revoked = await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{editor.GetProperty("id").GetString()}", bearer: admin);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
    }

    [Fact]
    public async Task A_key_cannot_grant_a_scope_it_lacks()
    {
        var narrowed = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Owner, [Scopes.KeysWrite, Scopes.PostsRead]);

        var wider = await _client.SendAsync(Post("/v1/api-keys", narrowed.Key, """{"name": "x", "role": "editor"}"""));
        var error = await wider.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        Assert.Contains(Scopes.PostsWrite, error.GetProperty("message").GetString(), StringComparison.Ordinal);

        var within = await MintAsync(narrowed.Key, new { name = "reader", role = "viewer", scopes = new[] { "posts:read" } });
        Assert.Equal(["posts:read"], Strings(within.GetProperty("scopes")));
    }

    [Theory]
    [InlineData("editor")]
    [InlineData("viewer")]
    public async Task Editors_and_viewers_cannot_manage_keys(string role)
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, role);

        await (await _client.SendAsync(HttpMethod.Get, "/v1/api-keys", bearer: key.Key)).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        await (await _client.SendAsync(Post("/v1/api-keys", key.Key, """{"name": "x", "role": "viewer"}"""))).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        await (await _client.SendAsync(HttpMethod.Delete, $"/v1/api-keys/{key.KeyId}", bearer: key.Key)).AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: key.Key)).EchoAsync();
    }

    private async Task<JsonElement> MintAsync(string bearer, object body)
    {
        using var request = Http.Request(HttpMethod.Post, "/v1/api-keys", bearer: bearer);
        request.Content = JsonContent.Create(body);
        var response = await _client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var minted = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal($"/v1/api-keys/{minted.GetProperty("id").GetString()}", response.Headers.Location?.ToString());
        return minted;
    }

    private async Task<List<JsonElement>> ListAsync(string bearer)
    {
        var response = await _client.SendAsync(HttpMethod.Get, "/v1/api-keys", bearer: bearer);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return [.. (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").EnumerateArray()];
    }

    private static HttpRequestMessage Post(string path, string bearer, string json)
    {
        var request = Http.Request(HttpMethod.Post, path, bearer: bearer);
        request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        return request;
    }

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];
}
