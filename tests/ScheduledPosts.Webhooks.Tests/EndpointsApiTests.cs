using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class EndpointsApiTests(StrictWebhooksApp app) : IClassFixture<StrictWebhooksApp>
{
    private const string Path = "/v1/webhook-endpoints";

    [Fact]
    public async Task Create_shows_the_secret_once_and_reads_never_show_it()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var response = await client.PostAsJsonAsync(Path, new
        {
            url = "https://hooks.example.com/scheduledposts",
            events = new[] { "post.cancelled", "post.published" },
            description = "CRM sync",
        });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var created = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
        var root = created.RootElement;
        string id = root.GetProperty("id").GetString()!;
        Assert.StartsWith("we_", id, StringComparison.Ordinal);
        Assert.Equal($"{Path}/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("https://hooks.example.com/scheduledposts", root.GetProperty("url").GetString());
        Assert.Equal(["post.cancelled", "post.published"], root.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("CRM sync", root.GetProperty("description").GetString());
        Assert.True(root.GetProperty("enabled").GetBoolean());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", root.GetProperty("createdAt").GetString());
        string secret = root.GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(secret["whsec_".Length..]).Length);

        using var one = JsonDocument.Parse(await client.GetStringAsync($"{Path}/{id}"));
        Assert.Equal(id, one.RootElement.GetProperty("id").GetString());
        Assert.Equal(root.GetProperty("createdAt").GetString(), one.RootElement.GetProperty("createdAt").GetString());
        Assert.False(one.RootElement.TryGetProperty("secret", out _));

        using var list = JsonDocument.Parse(await client.GetStringAsync(Path));
        var listed = Assert.Single(list.RootElement.GetProperty("data").EnumerateArray());
        Assert.Equal(id, listed.GetProperty("id").GetString());
        Assert.False(listed.TryGetProperty("secret", out _));
        Assert.DoesNotContain(secret["whsec_".Length..], list.RootElement.GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("/relative/path")]
    [InlineData("ftp://hooks.example.com/x")]
    [InlineData("http://hooks.example.com/x")]
    [InlineData("https://localhost/x")]
    [InlineData("https://127.0.0.1/x")]
    [InlineData("https://10.1.2.3/x")]
    [InlineData("https://192.168.0.10/x")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://[::1]/x")]
    public async Task A_url_that_is_not_public_https_is_refused(string url)
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var response = await client.PostAsJsonAsync(Path, new { url, events = new[] { "*" } });

        await AssertValidationErrorAsync(response, "url");
        using var list = JsonDocument.Parse(await client.GetStringAsync(Path));
        Assert.Empty(list.RootElement.GetProperty("data").EnumerateArray());
    }

    [Theory]
    [InlineData(new string[0], "events")]
    [InlineData(new[] { "post.exploded" }, "events[0]")]
    [InlineData(new[] { "post.cancelled", "post.*" }, "events[1]")]
    public async Task Unknown_or_missing_event_types_are_refused(string[] events, string path)
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var response = await client.PostAsJsonAsync(Path, new { url = "https://hooks.example.com/x", events });

        await AssertValidationErrorAsync(response, path);
    }

    [Fact]
    public async Task A_missing_body_lists_what_is_required()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        using var content = new StringContent("{}", Encoding.UTF8, "application/json");

        var response = await client.PostAsync(Path, content);

        await AssertValidationErrorAsync(response, "url");
    }

    [Fact]
    public async Task Unparseable_json_is_a_bad_request()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        using var content = new StringContent("{\"url\": ", Encoding.UTF8, "application/json");

        var response = await client.PostAsync(Path, content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_request_without_a_valid_internal_identity_is_unauthenticated()
    {
        using var anonymous = app.Factory.CreateClient();
        using var forged = app.Factory.CreateClient();
        forged.DefaultRequestHeaders.Add("X-SP-Identity", "v1.eyJXIjoid3NfMSJ9.forged");

        foreach (var client in new[] { anonymous, forged })
        {
            var response = await client.GetAsync(Path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("UNAUTHENTICATED", (await ErrorOf(response)).GetProperty("code").GetString());
        }

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task Another_workspaces_endpoint_is_not_found()
    {
        using var owner = app.ClientFor(WebhooksApp.NewWorkspace());
        using var stranger = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await owner.PostAsJsonAsync(Path, new { url = "https://hooks.example.com/x", events = new[] { "*" } });
        string id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        var response = await stranger.GetAsync($"{Path}/{id}");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NOT_FOUND", (await ErrorOf(response)).GetProperty("code").GetString());
        using var list = JsonDocument.Parse(await stranger.GetStringAsync(Path));
        Assert.Empty(list.RootElement.GetProperty("data").EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"{Path}/{id}")).StatusCode);
    }

    [Fact]
    public async Task A_read_only_key_cannot_create_endpoints()
    {
        string workspace = WebhooksApp.NewWorkspace();
        using var reader = app.ClientFor(workspace, "webhooks:read");

        var response = await reader.PostAsJsonAsync(Path, new { url = "https://hooks.example.com/x", events = new[] { "*" } });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("FORBIDDEN_SCOPE", (await ErrorOf(response)).GetProperty("code").GetString());
        using var list = JsonDocument.Parse(await reader.GetStringAsync(Path));
        Assert.Empty(list.RootElement.GetProperty("data").EnumerateArray());
    }

    private static async Task AssertValidationErrorAsync(HttpResponseMessage response, string path)
    {
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("VALIDATION", error.GetProperty("code").GetString());
        Assert.StartsWith("req_", error.GetProperty("requestId").GetString(), StringComparison.Ordinal);
        Assert.Equal(path, error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
    }

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
        => (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
}
