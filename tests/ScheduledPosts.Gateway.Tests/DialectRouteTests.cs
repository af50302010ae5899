using System.Net;
using System.Text.Json.Nodes;
using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>
/// The PostPost and Postbreeze base paths: a key is needed as under /v1 (PostPost's <c>x-api-key</c> included), the
/// request reaches the scheduling service unchanged, and the errors the gateway answers itself come in the dialect's body.
/// </summary>
public sealed class DialectRouteTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    private static async Task<JsonObject> BodyAsync(HttpResponseMessage response)
        => JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    [Theory]
    [InlineData("DELETE", "/api/v1/delete-post/post_1")]
    [InlineData("GET", "/api/v1/list-posts?status=scheduled&page=2")]
    [InlineData("POST", "/postbreeze/api/v1/posts/post_1/cancel")]
    public async Task With_a_key_a_dialects_request_reaches_the_scheduling_service_unchanged(string method, string path)
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Editor);

        var echoed = await (await _client.SendAsync(new HttpMethod(method), path, apiKey: key.Key)).EchoAsync();

        Assert.Equal(method, echoed.Method);
        Assert.Equal(path, echoed.PathAndQuery);
        Assert.NotNull(GatewayFactory.Identity(echoed));
    }

    [Fact]
    public async Task PostPost_paths_refuse_a_missing_or_bad_key_and_a_missing_scope_in_PostPosts_body()
    {
        foreach (string? key in new[] { null, "YOUR_API_KEY" })
        {
            var refused = await _client.SendAsync(HttpMethod.Delete, "/api/v1/delete-post/post_1", apiKey: key);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("""{"error":"Invalid API key"}""", (await BodyAsync(refused)).ToJsonString());
        }

        var viewer = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        string path = $"/api/v1/delete-post/post_{Guid.NewGuid():N}";
        var forbidden = await _client.SendAsync(HttpMethod.Delete, path, apiKey: viewer.Key);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Contains("posts:write", (await BodyAsync(forbidden))["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Scheduling.Received, r => r.PathAndQuery == path);
    }

    [Fact]
    public async Task Postbreeze_paths_refuse_in_Postbreezes_body_with_the_request_id()
    {
        var refused = await _client.SendAsync(HttpMethod.Post, "/postbreeze/api/v1/posts/post_1/cancel", bearer: "pb_live_wrong");
        var body = await BodyAsync(refused);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(401, body["statusCode"]!.GetValue<int>());
        Assert.Equal("UNAUTHORIZED", body["code"]!.GetValue<string>());
        Assert.Equal("Unauthorized", body["message"]!.GetValue<string>());
        Assert.Equal(refused.Headers.GetValues("X-Request-Id").Single(), body["requestId"]!.GetValue<string>());

        var viewer = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        var forbidden = await BodyAsync(await _client.SendAsync(HttpMethod.Post, "/postbreeze/api/v1/posts/post_1/cancel", bearer: viewer.Key));
        Assert.Equal(("FORBIDDEN", 403), (forbidden["code"]!.GetValue<string>(), forbidden["statusCode"]!.GetValue<int>()));
    }
}
