using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

public sealed class AdminFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string ConnectionString { get; private set; } = "";
    public EchoUpstream Upstream { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;
    public GatewayFactory WithoutToken { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Upstream = _resources.Add(await EchoUpstream.StartAsync());
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address,
            extra: new Dictionary<string, string?> { ["Admin:Token"] = GatewayFactory.AdminToken }));
        _ = Gateway.Server;
        WithoutToken = _resources.Add(GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address));
        _ = WithoutToken.Server;
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();
}

public sealed class AdminApiTests(AdminFixture fixture) : IClassFixture<AdminFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task Creating_a_workspace_returns_its_id_and_a_working_owner_key_of_that_workspace_only()
    {
        string name = $"acme-{Guid.NewGuid():N}";
        var response = await CreateAsync(_client, GatewayFactory.AdminToken, new { name });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        string workspaceId = created.GetProperty("id").GetString()!;
        Assert.StartsWith("ws_", workspaceId, StringComparison.Ordinal);
        Assert.Equal(name, created.GetProperty("name").GetString());
        var ownerKey = created.GetProperty("ownerKey");
        Assert.Equal("owner", ownerKey.GetProperty("role").GetString());
        string secret = ownerKey.GetProperty("secret").GetString()!;

        var keys = await (await _client.SendAsync(HttpMethod.Get, "/v1/api-keys", bearer: secret)).Content.ReadFromJsonAsync<JsonElement>();
        var only = Assert.Single(keys.GetProperty("data").EnumerateArray());
        Assert.Equal(ownerKey.GetProperty("id").GetString(), only.GetProperty("id").GetString());
        var echoed = await (await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: secret)).EchoAsync();
        Assert.Equal(workspaceId, GatewayFactory.Identity(echoed)!.WorkspaceId);
    }

    [Fact]
    public async Task A_taken_name_is_a_409_and_a_blank_one_a_422()
    {
        string name = $"taken-{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(_client, GatewayFactory.AdminToken, new { name })).StatusCode);

        await (await CreateAsync(_client, GatewayFactory.AdminToken, new { name = $"  {name} " })).AssertEnvelopeAsync(HttpStatusCode.Conflict, "CONFLICT");
        await (await CreateAsync(_client, GatewayFactory.AdminToken, new { name = " " })).AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        await (await CreateAsync(_client, GatewayFactory.AdminToken, new { })).AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-the-admin-token-0123456789-abcdefghij")]
    [InlineData(GatewayFactory.BootstrapKey)]
    [InlineData(GatewayFactory.AdminToken + "x")]
    public async Task Without_the_exact_admin_token_nothing_admin_is_reachable(string? token)
    {
        string name = $"nope-{Guid.NewGuid():N}";

        var response = await CreateAsync(_client, token, new { name });

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        var keyAsAdmin = await CreateAsync(_client, null, new { name }, apiKey: GatewayFactory.BootstrapKey);
        await keyAsAdmin.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Equal(0, await WorkspaceCountAsync(name));
    }

    [Fact]
    public async Task Without_a_configured_token_the_admin_API_does_not_exist()
    {
        string name = $"off-{Guid.NewGuid():N}";

        var response = await CreateAsync(fixture.WithoutToken.CreateClient(), GatewayFactory.AdminToken, new { name });

        await response.AssertEnvelopeAsync(HttpStatusCode.NotFound, "NOT_FOUND");
        Assert.Equal(0, await WorkspaceCountAsync(name));
    }

    [Fact]
    public async Task A_short_admin_token_fails_start_up_with_a_clear_message()
    {
        await using var gateway = GatewayFactory.Create(fixture.ConnectionString,
            extra: new Dictionary<string, string?> { ["Admin:Token"] = "short" });

        var error = Record.Exception(() => gateway.Server);

        Assert.NotNull(error);
        Assert.Contains("Admin:Token", Flatten(error).OfType<OptionsValidationException>().Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateways_metrics_need_the_admin_token_and_are_refused_to_everyone_when_none_is_set()
    {
        var withToken = await _client.SendAsync(HttpMethod.Get, "/metrics", bearer: GatewayFactory.AdminToken);
        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        string text = await withToken.Content.ReadAsStringAsync();
        // The runtime's own meter is the process's, so every host serves it (the gateway's own instruments are
        // asserted end to end, where the gateway is a process of its own).
        Assert.Contains("dotnet_gc_collections_total", text, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.SendAsync(HttpMethod.Get, "/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.SendAsync(HttpMethod.Get, "/metrics", bearer: "not-the-admin-token-0123456789-abcdefgh")).StatusCode);
        var noAdmin = fixture.WithoutToken.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await noAdmin.SendAsync(HttpMethod.Get, "/metrics", bearer: GatewayFactory.AdminToken)).StatusCode);
    }

    private static async Task<HttpResponseMessage> CreateAsync(HttpClient client, string? token, object body, string? apiKey = null)
    {
        using var request = Http.Request(HttpMethod.Post, "/admin/workspaces", bearer: token, apiKey: apiKey);
        request.Content = JsonContent.Create(body);
        return await client.SendAsync(request);
    }

    private async Task<long> WorkspaceCountAsync(string name)
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.ConnectionString);
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT count(*) FROM gateway.workspaces WHERE name = @name", new { name });
    }

    private static IEnumerable<Exception> Flatten(Exception error)
    {
        yield return error;
        var inner = error is AggregateException aggregate ? aggregate.InnerExceptions : (IEnumerable<Exception>)(error.InnerException is null ? [] : [error.InnerException]);
        foreach (var e in inner.SelectMany(Flatten))
        {
            yield return e;
        }
    }
}
