using System.Net;
using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>One gateway for the class: scheduling routes to an echoing service, webhooks to an address where nothing listens.</summary>
public sealed class ProxyFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string ConnectionString { get; private set; } = "";
    public EchoUpstream Scheduling { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Scheduling = _resources.Add(await EchoUpstream.StartAsync());
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, Scheduling.Address, EchoUpstream.ClosedAddress(), extra: RewritingRoute));
        _ = Gateway.Server; // start it: migrations and bootstrap
    }

    /// <summary>A route that changes both the method and the path: DELETE /v1/posts-by-alias/{id} is the service's POST /v1/posts/{id}/cancel.</summary>
    private static readonly Dictionary<string, string?> RewritingRoute = new()
    {
        ["ReverseProxy:Routes:rewriting:ClusterId"] = "scheduling",
        ["ReverseProxy:Routes:rewriting:AuthorizationPolicy"] = "posts",
        ["ReverseProxy:Routes:rewriting:Match:Path"] = "/v1/posts-by-alias/{id}",
        ["ReverseProxy:Routes:rewriting:Match:Methods:0"] = "DELETE",
        ["ReverseProxy:Routes:rewriting:Transforms:0:PathPattern"] = "/v1/posts/{id}/cancel",
        ["ReverseProxy:Routes:rewriting:Transforms:1:HttpMethodChange"] = "DELETE",
        ["ReverseProxy:Routes:rewriting:Transforms:1:Set"] = "POST",
    };

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();
}

public sealed class ProxyTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private const string Key = GatewayFactory.BootstrapKey;
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task Without_a_key_v1_answers_401_in_the_envelope_and_forwards_nothing()
    {
        string requestId = $"test-{Guid.NewGuid():N}";
        var response = await _client.SendAsync(HttpMethod.Get, "/v1/posts", requestId: requestId);

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.DoesNotContain(fixture.Scheduling.Received, r => r.Header("X-Request-Id").Contains(requestId));
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("x-api-key")]
    public async Task A_wrong_key_answers_401(string header)
    {
        string wrong = ApiKeySecret.Generate();
        var response = header == "bearer"
            ? await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: wrong)
            : await _client.SendAsync(HttpMethod.Get, "/v1/posts", apiKey: wrong);

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("x-api-key")]
    public async Task Bearer_and_X_Api_Key_both_authenticate(string header)
    {
        var response = header == "bearer"
            ? await _client.SendAsync(HttpMethod.Get, "/v1/posts?limit=5", bearer: Key)
            : await _client.SendAsync(HttpMethod.Get, "/v1/posts?limit=5", apiKey: Key);

        var echoed = await response.EchoAsync();
        Assert.Equal("GET", echoed.Method);
        Assert.Equal("/v1/posts?limit=5", echoed.PathAndQuery);
    }

    [Fact]
    public async Task The_service_gets_the_gateways_signed_identity_never_the_clients_nor_the_key()
    {
        var (workspaceId, keyId) = await BootstrapKeyAsync();
        string forged = InternalKeys.Stranger.Issuer(InternalIssuers.Gateway).Issue(new InternalIdentity("ws_someone_else", "key_forged", [.. Scopes.All, "targets"]), "scheduling", "POST", "/v1/posts");
        using var request = Http.Request(HttpMethod.Post, "/v1/posts", bearer: Key);
        request.Headers.Add(InternalIdentity.Header, forged);
        request.Headers.Add("X-Api-Key", "another-key-the-service-must-not-see");

        var echoed = await (await _client.SendAsync(request)).EchoAsync();

        string forwarded = Assert.Single(echoed.Header(InternalIdentity.Header));
        Assert.NotEqual(forged, forwarded);
        var identity = GatewayFactory.Identity(echoed);
        Assert.NotNull(identity);
        Assert.Equal(workspaceId, identity.WorkspaceId);
        Assert.Equal(keyId, identity.KeyId);
        Assert.Equal(Roles.ScopesOf(Roles.Owner).Order(), identity.Scopes.Order());
        Assert.Empty(echoed.Header("Authorization"));
        Assert.Empty(echoed.Header("X-Api-Key"));
    }

    [Fact]
    public async Task The_identity_is_signed_for_the_service_the_method_and_the_path_the_request_reaches()
    {
        await BootstrapKeyAsync();
        // A route that changes both: DELETE /v1/posts-by-alias/{id} is the service's POST /v1/posts/{id}/cancel.
        var echoed = await (await _client.SendAsync(HttpMethod.Delete, "/v1/posts-by-alias/post_1?reason=x", bearer: Key)).EchoAsync();

        Assert.Equal("POST", echoed.Method);
        Assert.Equal("/v1/posts/post_1/cancel?reason=x", echoed.PathAndQuery);
        Assert.NotNull(GatewayFactory.Identity(echoed));
        Assert.Null(GatewayFactory.Identity(echoed, audience: "webhooks"));
        Assert.Null(GatewayFactory.Identity(echoed with { Method = "DELETE" }));
        Assert.Null(GatewayFactory.Identity(echoed with { PathAndQuery = "/v1/posts/post_1" }));
    }

    [Fact]
    public async Task The_OAuth_callback_is_reached_without_a_key_with_only_the_gateways_callback_scope_and_a_key_sent_along_goes_no_further()
    {
        await BootstrapKeyAsync();
        var anonymous = await (await _client.SendAsync(HttpMethod.Get, "/v1/oauth/callback?code=c1&state=s1")).EchoAsync();
        var withKey = await (await _client.SendAsync(HttpMethod.Get, "/v1/oauth/callback?code=c2&state=s2", bearer: Key)).EchoAsync();

        foreach (var echoed in new[] { anonymous, withKey })
        {
            var identity = GatewayFactory.Identity(echoed);
            Assert.NotNull(identity);
            Assert.Equal("", identity.WorkspaceId);
            Assert.Equal([InternalScopes.OAuthCallback], identity.Scopes);
            Assert.Empty(echoed.Header("Authorization"));
        }

        Assert.Equal("/v1/oauth/callback?code=c1&state=s1", anonymous.PathAndQuery);
        // Any other method on the callback path is the public API's: a key is needed and nothing is forwarded.
        string requestId = $"test-{Guid.NewGuid():N}";
        var post = await _client.SendAsync(HttpMethod.Post, "/v1/oauth/callback", requestId: requestId);
        await post.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.DoesNotContain(fixture.Scheduling.Received, r => r.Header("X-Request-Id").Contains(requestId));
    }

    [Fact]
    public async Task X_Request_Id_is_kept_when_given()
    {
        string requestId = $"client-{Guid.NewGuid():N}";
        var response = await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: Key, requestId: requestId);

        var echoed = await response.EchoAsync();
        Assert.Equal(requestId, response.RequestId());
        Assert.Equal([requestId], echoed.Header("X-Request-Id"));
    }

    [Fact]
    public async Task X_Request_Id_is_generated_when_not_given()
    {
        var response = await _client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: Key);

        var echoed = await response.EchoAsync();
        string generated = response.RequestId();
        Assert.StartsWith("req_", generated, StringComparison.Ordinal);
        Assert.Equal([generated], echoed.Header("X-Request-Id"));
    }

    [Theory]
    [InlineData("GET", "/v1/posts")]
    [InlineData("POST", "/v1/posts/post_1/cancel")]
    [InlineData("GET", "/v1/social-accounts")]
    [InlineData("DELETE", "/v1/social-accounts/acc_1")]
    [InlineData("POST", "/v1/media")]
    [InlineData("GET", "/v1/media/med_1")]
    [InlineData("GET", "/v1/scheduled-posts/post_1")]
    [InlineData("DELETE", "/v1/scheduled-posts/post_1")]
    [InlineData("POST", "/v1/scheduled-posts/post_1/reschedule")]
    public async Task Scheduling_routes_reach_the_scheduling_service_unchanged(string method, string path)
    {
        var echoed = await (await _client.SendAsync(new HttpMethod(method), path, bearer: Key)).EchoAsync();

        Assert.Equal(method, echoed.Method);
        Assert.Equal(path, echoed.PathAndQuery);
    }

    [Fact]
    public async Task The_callers_W3C_trace_continues_into_the_service()
    {
        const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        using var request = Http.Request(HttpMethod.Get, "/v1/posts", bearer: Key);
        request.Headers.Add("traceparent", $"00-{TraceId}-00f067aa0ba902b7-01");

        var echoed = await (await _client.SendAsync(request)).EchoAsync();

        string forwarded = Assert.Single(echoed.Header("traceparent"));
        var parts = forwarded.Split('-');
        Assert.Equal(TraceId, parts[1]);
        Assert.NotEqual("00f067aa0ba902b7", parts[2]); // the gateway's own span is the service's parent
    }

    [Theory]
    [InlineData("/v1/nope", true)]
    [InlineData("/v1/postsx", true)]
    [InlineData("/nope", false)]
    public async Task An_unknown_route_is_a_404_envelope(string path, bool withKey)
    {
        var response = await _client.SendAsync(HttpMethod.Get, path, bearer: withKey ? Key : null);

        await response.AssertEnvelopeAsync(HttpStatusCode.NotFound, "NOT_FOUND");
    }

    [Theory]
    [InlineData("/v1/nope")]
    [InlineData("/v1/postsx")]
    public async Task A_path_under_v1_that_matches_nothing_still_needs_a_key(string path)
    {
        var response = await _client.SendAsync(HttpMethod.Get, path);

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
    }

    [Theory]
    [InlineData("GET", "/v1/webhook-endpoints")]
    [InlineData("POST", "/v1/webhook-deliveries/dlv_1/redeliver")]
    public async Task A_service_that_is_down_is_an_unavailable_envelope(string method, string path)
    {
        var response = await _client.SendAsync(new HttpMethod(method), path, bearer: Key);

        Assert.Contains(response.StatusCode, new[] { HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable });
        await response.AssertEnvelopeAsync(response.StatusCode, "UNAVAILABLE");
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_endpoints_answer_without_a_key(string path)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<(string WorkspaceId, string KeyId)> BootstrapKeyAsync()
    {
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        return await connection.QuerySingleAsync<(string, string)>(
            "SELECT w.id, k.id FROM gateway.workspaces w JOIN gateway.api_keys k ON k.workspace_id = w.id WHERE w.name = 'default'");
    }
}
