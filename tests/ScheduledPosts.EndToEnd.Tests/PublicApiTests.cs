using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>The public face of the real stack: the OpenAPI document and its lint, the reference page, request ids, and services that refuse callers other than the gateway.</summary>
public sealed class PublicApiTests(PublicApiTests.AddressedStack stack) : IClassFixture<PublicApiTests.AddressedStack>
{
    /// <summary>The stack, remembering each service's settings so a test can call a service around the gateway.</summary>
    public sealed class AddressedStack : Stack
    {
        public Dictionary<string, Dictionary<string, string>> Environments { get; } = [];

        protected override void Configure(string service, Dictionary<string, string> environment) => Environments[service] = environment;

        public Uri RestUrl(string service) => new(Environments[service].GetValueOrDefault("Kestrel__Endpoints__Rest__Url") ?? Environments[service]["Kestrel__Endpoints__Http__Url"]);

        public Uri GrpcUrl(string service) => new(Environments[service]["Kestrel__Endpoints__Grpc__Url"]);
    }

    /// <summary>Pinned so CI lints with the same rules every run; npx fetches it from the npm registry on first use.</summary>
    private const string Linter = "@redocly/cli@2.77.0";

    [Fact]
    public async Task The_OpenAPI_document_lints_clean_with_redocly()
    {
        string dir = Directory.CreateTempSubdirectory("sp-openapi-").FullName;
        string document = Path.Combine(dir, "openapi.json");
        var response = await stack.Gateway.GetAsync("/openapi.json");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        await File.WriteAllTextAsync(document, await response.Content.ReadAsStringAsync());
        // recommended-strict: every rule of the recommended set, warnings counted as errors. No licence has been chosen for the project yet.
        await File.WriteAllTextAsync(Path.Combine(dir, "redocly.yaml"), """
            extends:
              - recommended-strict
            rules:
              info-license: off
            """);

        var (exitCode, output, errors) = await Processes.RunAsync("npx", ["--yes", Linter, "lint", "openapi.json", "--config", "redocly.yaml", "--format", "stylish"], dir);

        Assert.True(exitCode == 0, $"redocly lint failed ({exitCode}); document kept at {document}:\n{output}{errors}");
        Directory.Delete(dir, recursive: true); // only on success: a failed lint leaves the document there to look at
    }

    [Fact]
    public async Task The_document_is_OpenAPI_3_1_and_covers_every_route_the_stack_serves()
    {
        var document = (await stack.Gateway.GetFromJsonAsync<JsonObject>("/openapi.json"))!;

        Assert.StartsWith("3.1", document["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        var paths = document["paths"]!.AsObject();
        string[] served =
        [
            "post /v1/posts", "get /v1/posts", "get /v1/posts/{id}", "patch /v1/posts/{id}", "delete /v1/posts/{id}",
            "post /v1/posts/{id}/schedule", "post /v1/posts/{id}/publish", "post /v1/posts/{id}/reschedule", "post /v1/posts/{id}/cancel",
            "post /v1/posts/{id}/targets/{targetId}/cancel", "post /v1/posts/{id}/retry", "get /v1/posts/{id}/events",
            "post /v1/posts/{id}/approve", "post /v1/posts/{id}/decline",
            "post /v1/media", "get /v1/media/{id}", "get /v1/scheduling-settings", "patch /v1/scheduling-settings",
            "post /v1/social-accounts", "get /v1/social-accounts", "get /v1/social-accounts/{id}", "delete /v1/social-accounts/{id}", "get /v1/platforms",
            "post /v1/webhook-endpoints", "get /v1/webhook-endpoints", "get /v1/webhook-endpoints/{id}",
            "post /v1/api-keys", "get /v1/api-keys", "get /v1/api-keys/{id}", "delete /v1/api-keys/{id}",
            "post /admin/workspaces",
        ];
        var documented = paths.SelectMany(p => p.Value!.AsObject().Select(op => $"{op.Key} {p.Key}")).ToHashSet();
        var missing = served.Where(route => !documented.Contains(route)).ToList();
        Assert.True(missing.Count == 0, $"served but not documented: {string.Join(", ", missing)}");
        // Nothing the gateway does not route: every documented path answers through it with something other than "no such route".
        foreach (string path in paths.Select(p => p.Key))
        {
            string concrete = path.Replace("{id}", "x_1", StringComparison.Ordinal).Replace("{targetId}", "tgt_1", StringComparison.Ordinal);
            var response = await stack.Gateway.GetAsync(concrete);
            string body = await response.Content.ReadAsStringAsync();
            Assert.False(body.Contains("No such route", StringComparison.Ordinal), $"{path} is documented but not routed: {body}");
        }
    }

    [Fact]
    public async Task The_reference_page_is_served()
    {
        var response = await stack.Gateway.GetAsync("/docs/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("ScheduledPosts API", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await stack.Gateway.GetAsync("/docs/scalar.js")).StatusCode);
    }

    [Theory]
    [InlineData("scheduling", "/v1/posts")]
    [InlineData("scheduling", "/v1/social-accounts")]
    [InlineData("scheduling", "/openapi/v1.json")]
    [InlineData("webhooks", "/v1/webhook-endpoints")]
    public async Task A_service_called_directly_refuses_without_the_gateways_identity(string service, string path)
    {
        using var direct = new HttpClient { BaseAddress = stack.RestUrl(service) };
        // The owner's API key means nothing to a service: only the gateway's signed identity does.
        direct.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Stack.BootstrapKey);
        direct.DefaultRequestHeaders.Add("X-SP-Identity", "v1.eyJXIjoid3NfeCIsIksiOiJrZXlfeCIsIlMiOlsicG9zdHM6cmVhZCJdLCJJYXQiOjB9.forged");

        var response = await direct.GetAsync(path);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("UNAUTHENTICATED", await response.EnvelopeCodeAsync($"GET {service}{path}"));
        Assert.Equal(HttpStatusCode.OK, (await stack.Gateway.GetAsync(path.StartsWith("/openapi", StringComparison.Ordinal) ? "/openapi.json" : path)).StatusCode);
    }

    private static async Task<HttpStatusCode> DirectAsync(Uri service, HttpMethod method, string path, string token)
    {
        using var direct = new HttpClient { BaseAddress = service };
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add(InternalIdentity.Header, token);
        using var response = await direct.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task The_services_accept_an_identity_only_for_themselves_for_this_request_once_and_check_its_scopes()
    {
        var scheduling = stack.RestUrl("scheduling");
        var webhooks = stack.RestUrl("webhooks");
        var editor = new InternalIdentity("ws_e2e_identity", "key_editor", ["posts:read", "posts:write", "webhooks:read"]);
        var viewer = editor with { KeyId = "key_viewer", Scopes = ["posts:read"] };

        string list = InternalKeys.FromGateway(editor, "scheduling", "GET", "/v1/posts");
        Assert.Equal(HttpStatusCode.OK, await DirectAsync(scheduling, HttpMethod.Get, "/v1/posts", list));
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(scheduling, HttpMethod.Get, "/v1/posts", list));
        // Issued for the scheduling service, replayed to the webhooks service; and the other way round.
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(webhooks, HttpMethod.Get, "/v1/webhook-endpoints",
            InternalKeys.FromGateway(editor, "scheduling", "GET", "/v1/webhook-endpoints")));
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(scheduling, HttpMethod.Get, "/v1/posts",
            InternalKeys.FromGateway(editor, "webhooks", "GET", "/v1/posts")));
        // Forged: a key pair of its own, claiming to be the gateway.
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(scheduling, HttpMethod.Get, "/v1/posts",
            InternalKeys.Stranger.Issuer(InternalIssuers.Gateway).Issue(editor, "scheduling", "GET", "/v1/posts")));
        // The publisher's genuine key means nothing to the webhooks service, and nothing beyond Targets to scheduling.
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(webhooks, HttpMethod.Get, "/v1/webhook-endpoints",
            InternalKeys.PublisherIssuer.Issue(editor, "webhooks", "GET", "/v1/webhook-endpoints")));
        Assert.Equal(HttpStatusCode.Forbidden, await DirectAsync(scheduling, HttpMethod.Get, "/v1/posts",
            InternalKeys.PublisherIssuer.Issue(editor, "scheduling", "GET", "/v1/posts")));

        // A viewer's read, replayed as a cancel; then a viewer's identity signed for the cancel itself.
        string read = InternalKeys.FromGateway(viewer, "scheduling", "GET", "/v1/posts/post_x");
        Assert.Equal(HttpStatusCode.Unauthorized, await DirectAsync(scheduling, HttpMethod.Post, "/v1/posts/post_x/cancel", read));
        Assert.Equal(HttpStatusCode.Forbidden, await DirectAsync(scheduling, HttpMethod.Post, "/v1/posts/post_x/cancel",
            InternalKeys.FromGateway(viewer, "scheduling", "POST", "/v1/posts/post_x/cancel")));
    }

    [Fact]
    public async Task Only_the_publishers_key_reaches_the_targets_api()
    {
        const string claim = "/scheduledposts.scheduling.v1.Targets/ClaimTarget";
        // The gRPC status the service answers with (refusals come before the call, as a trailers-only response).
        async Task<string?> ClaimAsync(string token)
        {
            using var grpc = new HttpClient { BaseAddress = stack.GrpcUrl("scheduling") };
            using var request = new HttpRequestMessage(HttpMethod.Post, claim)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                // An empty ClaimTargetRequest in gRPC framing: uncompressed, length 0.
                Content = new ByteArrayContent(new byte[5]),
            };
            request.Content.Headers.ContentType = new("application/grpc");
            request.Headers.TryAddWithoutValidation("te", "trailers");
            request.Headers.Add(InternalIdentity.Header, token);
            using var response = await grpc.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsByteArrayAsync();
            return (response.Headers.TryGetValues("grpc-status", out var early) ? early : response.TrailingHeaders.GetValues("grpc-status")).Single();
        }

        // The gateway's key (what any caller of the public API is vouched for with) listing the publisher's scope: PERMISSION_DENIED.
        Assert.Equal("7", await ClaimAsync(InternalKeys.GatewayIssuer.Issue(
            InternalIdentity.Service("webhooks", InternalScopes.Targets, "internal"), "scheduling", "POST", claim)));
        // A key the scheduling service does not trust, claiming to be the publisher: UNAUTHENTICATED.
        Assert.Equal("16", await ClaimAsync(InternalKeys.Stranger.Issuer(InternalIssuers.Publisher).Issue(
            InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets), "scheduling", "POST", claim)));
        // The publisher's: through to the service (OK: an empty request's target is not claimed).
        Assert.Equal("0", await ClaimAsync(InternalKeys.PublisherIssuer.Issue(
            InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets), "scheduling", "POST", claim)));
    }

    [Theory]
    [InlineData("gateway")]
    [InlineData("scheduling")]
    [InlineData("webhooks")]
    [InlineData("publisher")]
    public async Task Every_service_answers_healthz_and_readyz(string service)
    {
        using var direct = new HttpClient { BaseAddress = stack.RestUrl(service) };

        Assert.Equal(HttpStatusCode.OK, (await direct.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await direct.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task The_callers_request_id_comes_back_on_success_and_in_every_error_body_from_the_gateway_or_a_service()
    {
        (string Method, string Path, HttpStatusCode Status, bool WithKey)[] calls =
        [
            ("GET", "/v1/social-accounts", HttpStatusCode.OK, true),
            ("GET", "/v1/posts/post_00000000000000000000000000", HttpStatusCode.NotFound, true),
            ("GET", "/v1/webhook-endpoints/we_00000000000000000000000000", HttpStatusCode.NotFound, true),
            ("GET", "/v1/posts", HttpStatusCode.Unauthorized, false),
            ("GET", "/v1/nope", HttpStatusCode.NotFound, true),
        ];
        foreach (var (method, path, status, withKey) in calls)
        {
            string requestId = $"e2e-{Guid.NewGuid():N}";
            using var client = withKey ? stack.ClientWithKey(Stack.BootstrapKey) : stack.NewGatewayClient();
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            request.Headers.Add("X-Request-Id", requestId);

            var response = await client.SendAsync(request);

            Assert.Equal(status, response.StatusCode);
            Assert.Equal(requestId, response.Headers.GetValues("X-Request-Id").Single());
            if (status != HttpStatusCode.OK)
            {
                await response.EnvelopeCodeAsync($"{method} {path}");
            }
        }
    }

    [Fact]
    public async Task Proxied_responses_carry_the_keys_rate_limit()
    {
        var response = await stack.Gateway.GetAsync("/v1/social-accounts");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("500", response.Headers.GetValues("RateLimit-Limit").Single());
        Assert.True(int.Parse(response.Headers.GetValues("RateLimit-Remaining").Single(), System.Globalization.CultureInfo.InvariantCulture) < 500);
    }
}
