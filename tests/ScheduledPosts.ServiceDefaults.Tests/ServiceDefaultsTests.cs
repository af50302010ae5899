using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.ServiceDefaults.Tests;

public sealed record ThingBody(string Name, string? Note, DateTimeOffset? When, Dictionary<string, string>? Tags);

/// <summary>A service built on the service defaults, with one endpoint that counts what reached it.</summary>
public sealed class ThingServiceFixture : IAsyncLifetime
{
    private int _created;

    public FakeService Service { get; private set; } = null!;

    public int Created => Volatile.Read(ref _created);

    public async Task InitializeAsync()
    {
        Service = await FakeService.StartAsync(app =>
        {
            app.MapPost("/v1/things", (ThingBody body) =>
            {
                Interlocked.Increment(ref _created);
                return TypedResults.Created("/v1/things/thing_1", body);
            });
            app.MapGet("/v1/things/{id}", (string id) => TypedResults.Ok(new { id }));
            // Like the media upload: raises its own limit before reading the (multipart) body.
            app.MapPost("/v1/uploads", async (HttpRequest request) =>
            {
                request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = 16 * 1024 * 1024;
                var form = await request.ReadFormAsync();
                return TypedResults.Ok(new { bytes = form.Files.Sum(f => f.Length) });
            }).DisableAntiforgery();
        });
    }

    public async Task DisposeAsync() => await (Service?.DisposeAsync() ?? ValueTask.CompletedTask);
}

/// <summary>What every service gets from ServiceDefaults, seen from outside: the identity check, the body rules, its OpenAPI document.</summary>
public sealed class ServiceDefaultsTests(ThingServiceFixture fixture) : IClassFixture<ThingServiceFixture>
{
    private static readonly InternalIdentity Caller = new("ws_test", "key_test", ["posts:write"]);

    [Fact]
    public async Task A_service_called_directly_without_the_gateways_identity_refuses()
    {
        using var client = new HttpClient { BaseAddress = fixture.Service.Address };
        const string path = "/v1/things/thing_1";
        string For(InternalTokenIssuer issuer, string audience = "scheduling", string method = "GET", string forPath = path)
            => issuer.Issue(Caller, audience, method, forPath);

        var refused = new Dictionary<string, string?>
        {
            ["none"] = null,
            ["garbage"] = "v1.e30.forged",
            ["an untrusted key claiming to be the gateway"] = For(InternalKeys.Stranger.Issuer(InternalIssuers.Gateway)),
            ["an untrusted issuer"] = For(InternalKeys.Stranger.Issuer("webhooks")),
            ["expired"] = For(InternalKeys.Gateway.Issuer(InternalIssuers.Gateway, new ShiftedClock(TimeSpan.FromSeconds(-40)))),
            ["from the future"] = For(InternalKeys.Gateway.Issuer(InternalIssuers.Gateway, new ShiftedClock(TimeSpan.FromMinutes(1)))),
            ["for another service"] = For(InternalKeys.GatewayIssuer, audience: "webhooks"),
            ["for another method"] = For(InternalKeys.GatewayIssuer, method: "DELETE"),
            ["for another path"] = For(InternalKeys.GatewayIssuer, forPath: "/v1/things/thing_2"),
        };
        foreach (var (what, identity) in refused)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (identity is not null)
            {
                request.Headers.Add(InternalIdentity.Header, identity);
            }

            var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{what}: {response.StatusCode}");
            await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        }

        var document = await client.GetAsync("/openapi/v1.json");
        await document.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);

        var signed = await SendAsync(HttpMethod.Get, path);
        Assert.Equal(HttpStatusCode.OK, signed.StatusCode);

        // Accepted once: the same token again is a replay.
        string once = For(InternalKeys.GatewayIssuer);
        foreach (var expected in new[] { HttpStatusCode.OK, HttpStatusCode.Unauthorized })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add(InternalIdentity.Header, once);
            Assert.Equal(expected, (await client.SendAsync(request)).StatusCode);
        }
    }

    [Fact]
    public void Tokens_live_at_most_30_seconds_and_keys_must_be_P256()
    {
        var issuer = InternalKeys.Gateway.Issuer(InternalIssuers.Gateway, lifetime: TimeSpan.FromHours(1));
        string token = issuer.Issue(Caller, "scheduling", "GET", "/v1/things");
        using var payload = JsonDocument.Parse(Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlDecode(token.Split('.')[1]));
        long lifetime = payload.RootElement.GetProperty("exp").GetInt64() - payload.RootElement.GetProperty("iat").GetInt64();
        Assert.InRange(lifetime, 1, 30);
        Assert.Equal("gateway", payload.RootElement.GetProperty("iss").GetString());
        Assert.Equal("scheduling", payload.RootElement.GetProperty("aud").GetString());

        using var p384 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384);
        Assert.False(InternalToken.IsPrivateKey(p384.ExportPkcs8PrivateKeyPem()));
        Assert.False(InternalToken.IsPrivateKey(InternalKeys.Gateway.PublicPem));
        Assert.True(InternalToken.IsPrivateKey(InternalKeys.Gateway.PrivatePem));
        Assert.True(InternalToken.IsPublicKey(InternalKeys.Gateway.PublicPem));
        Assert.False(InternalToken.IsPublicKey("not a key"));
    }

    public static TheoryData<string, string, string, HttpStatusCode, string> MalformedBodies => new()
    {
        { "cut-off JSON", "application/json", """{"name": """, HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a number for a string", "application/json", """{"name": 12}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "an array for the object", "application/json", """["name"]""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a string for a timestamp", "application/json", """{"name": "a", "when": "tomorrow"}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a NUL character", "application/json", """{"name": "a\u0000b"}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a NUL in a map key", "application/json", """{"name": "a", "tags": {"k\u0000": "v"}}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a lone high surrogate", "application/json", """{"name": "a\ud800"}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "a lone low surrogate", "application/json", """{"name": "\udc00a"}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "nesting past the limit", "application/json", """{"name": "a", "tags": """ + new string('[', 200) + new string(']', 200) + "}", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "plain text", "text/plain", """{"name": "a"}""", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "no body", "application/json", "", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "JSON null", "application/json", "null", HttpStatusCode.BadRequest, "BAD_REQUEST" },
        { "over 1 MiB", "application/json", $$"""{"name": "{{new string('x', 1024 * 1024)}}"}""", HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task A_malformed_body_is_a_4xx_envelope_and_never_reaches_the_endpoint(string what, string contentType, string body, HttpStatusCode status, string code)
    {
        int before = fixture.Created;

        var response = await SendAsync(HttpMethod.Post, "/v1/things", new StringContent(body, Encoding.UTF8, contentType));

        await response.AssertEnvelopeAsync(status, code);
        Assert.True(fixture.Created == before, $"{what} reached the endpoint");
    }

    [Fact]
    public async Task Bytes_that_are_not_UTF_8_are_a_400_envelope()
    {
        int before = fixture.Created;
        // "{"name":"<CESU-8 lone surrogate>"}": well-formed to a lax decoder, not UTF-8.
        byte[] body = [.. """{"name":" """u8[..^1], 0xED, 0xA0, 0x80, .. "\"}"u8];
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await SendAsync(HttpMethod.Post, "/v1/things", content);

        await response.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        Assert.Equal(before, fixture.Created);
    }

    [Fact]
    public async Task Bytes_that_are_not_UTF_8_in_a_property_nobody_reads_are_still_a_400_envelope()
    {
        int before = fixture.Created;
        byte[] body = [.. """{"name":"a","unknown":" """u8[..^1], 0xC3, 0x28, .. "\"}"u8];
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await SendAsync(HttpMethod.Post, "/v1/things", content);

        await response.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        Assert.Equal(before, fixture.Created);
    }

    [Fact]
    public async Task A_multipart_upload_may_be_larger_than_1_MiB_where_the_endpoint_allows_it_but_JSON_may_not()
    {
        var upload = new MultipartFormDataContent { { new ByteArrayContent(new byte[3 * 1024 * 1024]), "file", "big.png" } };

        var uploaded = await SendAsync(HttpMethod.Post, "/v1/uploads", upload);

        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Equal(3 * 1024 * 1024, (await uploaded.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("bytes").GetInt64());
        var json = await SendAsync(HttpMethod.Post, "/v1/uploads", new StringContent($"\"{new string('x', 3 * 1024 * 1024)}\"", Encoding.UTF8, "application/json"));
        await json.AssertEnvelopeAsync(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
    }

    [Fact]
    public async Task Text_outside_the_basic_plane_and_under_1_MiB_is_accepted()
    {
        var response = await SendAsync(HttpMethod.Post, "/v1/things",
            JsonContent.Create(new { name = "launch 🚀 day", note = new string('n', 900 * 1024) }));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("launch 🚀 day", (await response.Content.ReadFromJsonAsync<ThingBody>())!.Name);
    }

    [Fact]
    public async Task The_services_OpenAPI_document_is_3_1_and_types_strings_and_timestamps()
    {
        var response = await SendAsync(HttpMethod.Get, "/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;

        Assert.StartsWith("3.1", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var thing = root.GetProperty("components").GetProperty("schemas").GetProperty(nameof(ThingBody)).GetProperty("properties");
        Assert.Equal("string", thing.GetProperty("name").GetProperty("type").GetString());
        Assert.Equal(["null", "string"], thing.GetProperty("note").GetProperty("type").EnumerateArray().Select(t => t.GetString()).Order());
        Assert.Contains("string", thing.GetProperty("when").GetProperty("type").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("date-time", thing.GetProperty("when").GetProperty("format").GetString());
        var create = root.GetProperty("paths").GetProperty("/v1/things").GetProperty("post");
        Assert.Equal("#/components/schemas/ErrorEnvelope",
            create.GetProperty("responses").GetProperty("422").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content = null)
    {
        using var client = new HttpClient { BaseAddress = fixture.Service.Address };
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add(InternalIdentity.Header, InternalKeys.FromGateway(Caller, "scheduling", method.Method, path.Split('?')[0]));
        return await client.SendAsync(request);
    }

    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
