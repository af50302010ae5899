using System.Net;
using System.Net.Http.Json;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>The webhooks service trusts only the gateway's tokens issued for it and for the request, and checks scopes itself.</summary>
public sealed class InternalIdentityTests(StrictWebhooksApp app) : IClassFixture<StrictWebhooksApp>
{
    private async Task<HttpStatusCode> ListAsync(string? token)
    {
        using var client = app.Factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/webhook-endpoints");
        if (token is not null)
        {
            request.Headers.Add(InternalIdentity.Header, token);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Only_the_gateways_identity_for_this_service_is_accepted()
    {
        var caller = WebhooksApp.IdentityFor(WebhooksApp.NewWorkspace());
        string For(InternalTokenIssuer issuer, string audience = "webhooks") => issuer.Issue(caller, audience, "GET", "/v1/webhook-endpoints");

        Assert.Equal(HttpStatusCode.OK, await ListAsync(For(InternalKeys.GatewayIssuer)));
        Assert.Equal(HttpStatusCode.Unauthorized, await ListAsync(For(InternalKeys.GatewayIssuer, audience: "scheduling")));
        // The publisher's key is genuine, but the webhooks service does not trust the publisher.
        Assert.Equal(HttpStatusCode.Unauthorized, await ListAsync(For(InternalKeys.PublisherIssuer)));
        Assert.Equal(HttpStatusCode.Unauthorized, await ListAsync(For(InternalKeys.Stranger.Issuer(InternalIssuers.Gateway))));
        Assert.Equal(HttpStatusCode.Unauthorized, await ListAsync(null));
    }

    [Fact]
    public async Task Each_operation_needs_its_scope_at_the_service()
    {
        string workspace = WebhooksApp.NewWorkspace();
        using var reader = app.ClientFor(workspace, "webhooks:read");
        using var postsOnly = app.ClientFor(workspace, "posts:read", "posts:write");

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/webhook-endpoints")).StatusCode);
        var create = await reader.PostAsJsonAsync("/v1/webhook-endpoints", new { url = "https://hooks.example.com/x", events = new[] { "*" } });
        await create.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        var list = await postsOnly.GetAsync("/v1/webhook-endpoints");
        await list.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
    }
}
