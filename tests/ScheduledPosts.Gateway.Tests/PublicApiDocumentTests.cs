using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

public sealed record PostBody(string Caption);
public sealed record Thing(string A);

/// <summary>The gateway in front of two services built on the service defaults, each with its own generated document.</summary>
public sealed class PublicApiFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public FakeService Scheduling { get; private set; } = null!;
    public FakeService Webhooks { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Scheduling = _resources.Add(await FakeService.StartAsync(app =>
        {
            app.MapPost("/v1/posts", (PostBody body) => TypedResults.Created("/v1/posts/post_1", new Thing(body.Caption)));
            app.MapGet("/v1/posts/{id}", (string id) => TypedResults.Ok(new Thing(id)));
            app.MapGet("/v1/scheduled-posts/{scheduledPostId}", (string scheduledPostId) => TypedResults.Ok(new Thing(scheduledPostId)));
            app.MapGet("/internal/hidden", () => TypedResults.Ok(new Thing("no route leads here")));
        }));
        Webhooks = _resources.Add(await FakeService.StartAsync(app =>
            app.MapGet("/v1/webhook-endpoints", () => TypedResults.Ok(new WebhooksThing.Thing(1))), audience: "webhooks"));
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, Scheduling.Address, Webhooks.Address,
            extra: new Dictionary<string, string?> { ["Admin:Token"] = GatewayFactory.AdminToken }));
        _ = Gateway.Server;
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();
}

public static class WebhooksThing
{
    /// <summary>Same schema name as the scheduling service's <see cref="Tests.Thing"/>, another shape.</summary>
    public sealed record Thing(int B);
}

public sealed class PublicApiDocumentTests(PublicApiFixture fixture) : IClassFixture<PublicApiFixture>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    [Fact]
    public async Task One_OpenAPI_3_1_document_covers_the_services_public_routes_and_the_gateways_own()
    {
        var document = await DocumentAsync();

        Assert.StartsWith("3.1", document.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["/admin/status", "/admin/workspaces", "/v1/api-keys", "/v1/api-keys/{id}", "/v1/posts", "/v1/posts/{id}", "/v1/scheduled-posts/{scheduledPostId}", "/v1/webhook-endpoints"], paths);
        // A dialect's endpoints (here Layers') are a tag of their own, apart from the native posts.
        Assert.Equal(["layers"], Tags(document, "/v1/scheduled-posts/{scheduledPostId}", "get"));
        Assert.Equal(["posts"], Tags(document, "/v1/posts", "post"));
        Assert.Equal(["webhook-endpoints"], Tags(document, "/v1/webhook-endpoints", "get"));
        Assert.Equal(["api-keys"], Tags(document, "/v1/api-keys", "post"));
        var declaredTags = document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Equal(["admin", "api-keys", "layers", "posts", "webhook-endpoints"], declaredTags);
        Assert.Equal("http://localhost", document.GetProperty("servers")[0].GetProperty("url").GetString());
    }

    [Fact]
    public async Task Every_call_is_documented_with_its_authentication_and_the_gateways_errors()
    {
        var document = await DocumentAsync();

        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("X-Api-Key", schemes.GetProperty("apiKeyHeader").GetProperty("name").GetString());
        Assert.Equal("bearer", schemes.GetProperty("bearerAuth").GetProperty("scheme").GetString());
        Assert.Equal(["bearerAuth", "apiKeyHeader"], document.GetProperty("security").EnumerateArray().Select(s => s.EnumerateObject().Single().Name));
        foreach (var (path, method, operation) in Operations(document))
        {
            var responses = operation.GetProperty("responses");
            Assert.True(responses.TryGetProperty("401", out _), $"{method} {path} lacks 401");
            Assert.True(operation.TryGetProperty("operationId", out _), $"{method} {path} lacks an operationId");
            Assert.True(operation.TryGetProperty("summary", out _), $"{method} {path} lacks a summary");
            if (path.StartsWith("/admin", StringComparison.Ordinal))
            {
                Assert.Equal("adminToken", operation.GetProperty("security")[0].EnumerateObject().Single().Name);
            }
            else
            {
                Assert.True(responses.TryGetProperty("403", out _), $"{method} {path} lacks 403");
                Assert.True(responses.GetProperty("429").GetProperty("headers").TryGetProperty("Retry-After", out _), $"{method} {path} lacks 429 with Retry-After");
            }
        }
    }

    [Fact]
    public async Task Schemas_are_merged_identical_ones_once_clashing_names_kept_apart_and_every_reference_resolves()
    {
        var document = await DocumentAsync();
        var schemas = document.GetProperty("components").GetProperty("schemas");

        Assert.Equal("string", schemas.GetProperty("Thing").GetProperty("properties").GetProperty("a").GetProperty("type").GetString());
        Assert.Equal("#/components/schemas/Thing", ResponseSchema(document, "/v1/posts/{id}", "get"));
        string webhooksThing = ResponseSchema(document, "/v1/webhook-endpoints", "get")["#/components/schemas/".Length..];
        Assert.NotEqual("Thing", webhooksThing);
        Assert.True(schemas.GetProperty(webhooksThing).GetProperty("properties").TryGetProperty("b", out _));
        Assert.True(schemas.TryGetProperty("ErrorEnvelope", out _));

        string json = document.GetRawText();
        var references = Regex.Matches(json, "\"\\$ref\":\\s*\"#/components/schemas/([^\"]+)\"").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(references);
        Assert.All(references, name => Assert.True(schemas.TryGetProperty(name, out _), $"{name} is referenced but not defined"));
        Assert.All(schemas.EnumerateObject(), s => Assert.Contains(s.Name, references.Append("ErrorEnvelope")));
    }

    [Fact]
    public async Task The_reference_page_is_served_with_its_own_assets_and_points_at_the_document()
    {
        var page = await _client.GetAsync("/docs");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        // Scalar resolves the source against the site's base path (the page's path less /docs/): /openapi.json.
        Assert.Contains("\"url\":\"openapi.json\"", html, StringComparison.Ordinal);
        var scripts = Regex.Matches(html, "<script[^>]+src=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(scripts);
        foreach (string script in scripts)
        {
            Assert.False(script.StartsWith("http", StringComparison.OrdinalIgnoreCase), $"{script} is loaded from elsewhere");
            var asset = await _client.GetAsync(new Uri(new Uri("http://localhost/docs/"), script));
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.Contains("javascript", asset.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_service_that_cannot_describe_itself_makes_the_document_unavailable_not_partial()
    {
        await using var gateway = GatewayFactory.Create(fixture.ConnectionString, fixture.Scheduling.Address, EchoUpstream.ClosedAddress());

        var response = await gateway.CreateClient().GetAsync("/openapi.json");

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
        Assert.Contains("webhooks", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await _client.GetAsync("/openapi.json");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static IEnumerable<(string Path, string Method, JsonElement Operation)> Operations(JsonElement document)
        => document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(op => Methods.Contains(op.Name)).Select(op => (path.Name, op.Name, op.Value)));

    private static List<string?> Tags(JsonElement document, string path, string method)
        => [.. document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("tags").EnumerateArray().Select(t => t.GetString())];

    private static string ResponseSchema(JsonElement document, string path, string method)
    {
        var responses = document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses");
        return responses.EnumerateObject().First(r => r.Name.StartsWith('2')).Value
            .GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()!;
    }
}
