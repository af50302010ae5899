using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Sandbox;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>What the sandbox offers beyond what the connector uses: Mastodon's form body, and its own reset.</summary>
public sealed class SandboxPlatformTests(WebApplicationFactory<StatusStore> sandbox) : IClassFixture<WebApplicationFactory<StatusStore>>
{
    [Fact]
    public async Task A_form_posted_status_is_answered_as_a_Mastodon_status()
    {
        using var client = sandbox.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/statuses")
        {
            Content = new FormUrlEncodedContent([new("status", "Hello <b>world</b>")]),
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "@frank") },
        };

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        string id = status.RootElement.GetProperty("id").GetString()!;
        Assert.Equal("<p>Hello &lt;b&gt;world&lt;/b&gt;</p>", status.RootElement.GetProperty("content").GetString());
        Assert.Equal($"http://localhost/@frank/{id}", status.RootElement.GetProperty("url").GetString());
        Assert.Equal("frank", status.RootElement.GetProperty("account").GetProperty("acct").GetString());
        Assert.True(status.RootElement.TryGetProperty("created_at", out _));
    }

    [Fact]
    public async Task Deleting_the_record_forgets_statuses_and_idempotency_keys()
    {
        using var client = sandbox.CreateClient();
        var target = SandboxConnectorTests.Target(handle: "grace", text: "Before the reset");
        var connector = SandboxConnectorTests.Connector(sandbox.CreateClient());
        await connector.PublishAsync(target, CancellationToken.None);

        (await client.DeleteAsync("/sandbox/statuses")).EnsureSuccessStatusCode();
        var afterReset = await client.GetFromJsonAsync<List<RecordedStatus>>("/sandbox/statuses");
        Assert.NotNull(afterReset);
        Assert.Empty(afterReset);

        await connector.PublishAsync(target, CancellationToken.None);
        Assert.Single(await client.GetFromJsonAsync<List<RecordedStatus>>("/sandbox/statuses") ?? []);
    }
}
