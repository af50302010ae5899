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
    [InlineData("https://100.100.100.200/latest/meta-data")]
    [InlineData("https://0.0.0.0/x")]
    [InlineData("https://100.64.0.1/x")]
    [InlineData("https://2130706433/x")]
    [InlineData("https://224.0.0.1/x")]
    [InlineData("https://[::ffff:127.0.0.1]/x")]
    [InlineData("https://[fe80::1]/x")]
    [InlineData("https://localhost./x")]
    [InlineData("https://10.98.0.1/x")]
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

    [Fact]
    public async Task An_allow_listed_private_network_is_accepted()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var response = await client.PostAsJsonAsync(Path, new { url = "https://10.99.3.4/internal-hook", events = new[] { "*" } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task A_host_name_that_resolves_to_a_non_public_address_is_refused()
    {
        // This machine's own name: resolves (hosts file) to a loopback address, among others perhaps.
        string host = Dns.GetHostName();
        Assert.Contains(await Dns.GetHostAddressesAsync(host), IPAddress.IsLoopback);
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var response = await client.PostAsJsonAsync(Path, new { url = $"https://{host}/x", events = new[] { "*" } });

        await AssertValidationErrorAsync(response, "url");
    }

    [Fact]
    public async Task Patch_changes_only_what_it_sets()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["post.cancelled"], "CRM sync");

        var renamed = await client.PatchAsJsonAsync($"{Path}/{created.Id}", new { url = "https://hooks.example.com/b", events = new[] { "post.published", "post.published", "target.failed" } });

        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        var json = await renamed.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("https://hooks.example.com/b", json.GetProperty("url").GetString());
        Assert.Equal(["post.published", "target.failed"], json.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("CRM sync", json.GetProperty("description").GetString());
        Assert.True(json.GetProperty("enabled").GetBoolean());
        Assert.True(json.GetProperty("updatedAt").GetDateTimeOffset() >= json.GetProperty("createdAt").GetDateTimeOffset());
        Assert.False(json.TryGetProperty("secret", out _));

        var cleared = await client.PatchAsJsonAsync($"{Path}/{created.Id}", new { description = (string?)null });
        var fetched = JsonDocument.Parse(await client.GetStringAsync($"{Path}/{created.Id}")).RootElement;
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        Assert.Equal(JsonValueKind.Null, fetched.GetProperty("description").ValueKind);
        Assert.Equal("https://hooks.example.com/b", fetched.GetProperty("url").GetString());
        Assert.Equal(["post.published", "target.failed"], fetched.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("""{"url": "https://127.0.0.1/x"}""", "url")]
    [InlineData("""{"url": "http://hooks.example.com/x"}""", "url")]
    [InlineData("""{"events": ["post.exploded"]}""", "events[0]")]
    [InlineData("""{"events": []}""", "events")]
    [InlineData("""{"description": 42}""", "description")]
    public async Task Patch_refuses_what_create_refuses_and_changes_nothing(string body, string path)
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["post.cancelled"], null);
        string before = await client.GetStringAsync($"{Path}/{created.Id}");

        var response = await client.PatchAsync($"{Path}/{created.Id}", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertValidationErrorAsync(response, path);
        Assert.Equal(before, await client.GetStringAsync($"{Path}/{created.Id}"));
    }

    [Fact]
    public async Task An_endpoint_can_be_disabled_and_enabled_again()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["*"], null);

        var disabled = await (await client.PatchAsJsonAsync($"{Path}/{created.Id}", new { enabled = false })).Content.ReadFromJsonAsync<JsonElement>();
        var sendTest = await client.PostAsync($"{Path}/{created.Id}/test", null);
        var enabled = await (await client.PatchAsJsonAsync($"{Path}/{created.Id}", new { enabled = true })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.Equal("Disabled through the API.", disabled.GetProperty("disabledReason").GetString());
        Assert.Equal(HttpStatusCode.Conflict, sendTest.StatusCode);
        Assert.Equal("CONFLICT", (await ErrorOf(sendTest)).GetProperty("code").GetString());
        Assert.True(enabled.GetProperty("enabled").GetBoolean());
        Assert.Equal(JsonValueKind.Null, enabled.GetProperty("disabledReason").ValueKind);
    }

    [Fact]
    public async Task Delete_removes_the_endpoint_once()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["*"], null);

        var deleted = await client.DeleteAsync($"{Path}/{created.Id}");

        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var json = await deleted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(created.Id, json.GetProperty("id").GetString());
        Assert.True(json.GetProperty("deleted").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"{Path}/{created.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"{Path}/{created.Id}")).StatusCode);
        using var list = JsonDocument.Parse(await client.GetStringAsync(Path));
        Assert.Empty(list.RootElement.GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task Rotating_shows_the_new_secret_once()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["*"], null);

        var response = await client.PostAsync($"{Path}/{created.Id}/rotate-secret", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        string secret = json.GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.NotEqual(created.Secret, secret);
        Assert.Equal(created.Id, json.GetProperty("id").GetString());
        Assert.InRange(json.GetProperty("previousSecretExpiresAt").GetDateTimeOffset() - DateTimeOffset.UtcNow, TimeSpan.FromHours(23.9), TimeSpan.FromHours(24));
        string read = await client.GetStringAsync($"{Path}/{created.Id}");
        Assert.DoesNotContain(secret["whsec_".Length..], read, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Secret["whsec_".Length..], read, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_workspace_can_neither_change_nor_see_an_endpoint_or_its_deliveries()
    {
        using var owner = app.ClientFor(WebhooksApp.NewWorkspace());
        using var stranger = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(owner, "https://hooks.example.com/a", ["*"], null);
        var test = await (await owner.PostAsync($"{Path}/{created.Id}/test", null)).Content.ReadFromJsonAsync<JsonElement>();
        string deliveryId = test.GetProperty("id").GetString()!;

        var responses = new[]
        {
            await stranger.PatchAsJsonAsync($"{Path}/{created.Id}", new { enabled = false }),
            await stranger.DeleteAsync($"{Path}/{created.Id}"),
            await stranger.PostAsync($"{Path}/{created.Id}/rotate-secret", null),
            await stranger.PostAsync($"{Path}/{created.Id}/test", null),
            await stranger.GetAsync($"{Path}/{created.Id}/deliveries"),
            await stranger.GetAsync($"/v1/webhook-deliveries/{deliveryId}"),
            await stranger.PostAsync($"/v1/webhook-deliveries/{deliveryId}/redeliver", null),
        };

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
        var mine = JsonDocument.Parse(await owner.GetStringAsync($"{Path}/{created.Id}")).RootElement;
        Assert.True(mine.GetProperty("enabled").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/v1/webhook-deliveries/{deliveryId}")).StatusCode);
    }

    [Fact]
    public async Task A_read_only_key_reads_but_cannot_change_anything()
    {
        string workspace = WebhooksApp.NewWorkspace();
        using var admin = app.ClientFor(workspace);
        using var reader = app.ClientFor(workspace, "webhooks:read");
        var created = await CreateAsync(admin, "https://hooks.example.com/a", ["*"], null);
        string before = await admin.GetStringAsync($"{Path}/{created.Id}");

        var responses = new[]
        {
            await reader.PatchAsJsonAsync($"{Path}/{created.Id}", new { enabled = false }),
            await reader.DeleteAsync($"{Path}/{created.Id}"),
            await reader.PostAsync($"{Path}/{created.Id}/rotate-secret", null),
            await reader.PostAsync($"{Path}/{created.Id}/test", null),
            await reader.PostAsync("/v1/webhook-deliveries/dlv_01JXXXXXXXXXXXXXXXXXXXXXXX/redeliver", null),
        };

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode));
        Assert.Equal(before, await reader.GetStringAsync($"{Path}/{created.Id}"));
        Assert.Empty(JsonDocument.Parse(await reader.GetStringAsync($"{Path}/{created.Id}/deliveries")).RootElement.GetProperty("data").EnumerateArray());
    }

    [Theory]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=101", "limit")]
    [InlineData("?limit=ten", "limit")]
    [InlineData("?status=lost", "status")]
    [InlineData("?cursor=bm90LWEtY3Vyc29y", "cursor")]
    public async Task Bad_listing_parameters_are_refused(string query, string path)
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());
        var created = await CreateAsync(client, "https://hooks.example.com/a", ["*"], null);

        var response = await client.GetAsync($"{Path}/{created.Id}/deliveries{query}");

        await AssertValidationErrorAsync(response, path);
    }

    [Fact]
    public async Task Unknown_endpoints_and_deliveries_are_not_found()
    {
        using var client = app.ClientFor(WebhooksApp.NewWorkspace());

        var responses = new[]
        {
            await client.PatchAsJsonAsync($"{Path}/we_missing", new { enabled = false }),
            await client.PostAsync($"{Path}/we_missing/rotate-secret", null),
            await client.PostAsync($"{Path}/we_missing/test", null),
            await client.GetAsync($"{Path}/we_missing/deliveries"),
            await client.GetAsync("/v1/webhook-deliveries/dlv_missing"),
            await client.PostAsync("/v1/webhook-deliveries/dlv_missing/redeliver", null),
        };

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
        foreach (var response in responses)
        {
            Assert.Equal("NOT_FOUND", (await ErrorOf(response)).GetProperty("code").GetString());
        }
    }

    private sealed record Created(string Id, string Secret);

    private static async Task<Created> CreateAsync(HttpClient client, string url, string[] events, string? description)
    {
        var response = await client.PostAsJsonAsync(Path, new { url, events, description });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new Created(json.GetProperty("id").GetString()!, json.GetProperty("secret").GetString()!);
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
