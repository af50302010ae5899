using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>
/// <c>GET /admin/status</c> at the gateway: only for the admin token, and it asks each service for its own status with
/// the gateway's admin identity (which the services check again; their answers are asserted in their own tests). The
/// upstream here echoes each request, so the status shows what the gateway sent.
/// </summary>
public sealed class AdminStatusTests(AdminFixture fixture) : IClassFixture<AdminFixture>
{
    [Fact]
    public async Task With_the_admin_token_each_service_is_asked_for_its_status_with_the_gateways_admin_identity()
    {
        var response = await fixture.Gateway.CreateClient().SendAsync(HttpMethod.Get, "/admin/status", bearer: GatewayFactory.AdminToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Empty(status.GetProperty("unavailable").EnumerateArray());
        foreach (string service in new[] { "scheduling", "webhooks" })
        {
            var echoed = status.GetProperty(service).Deserialize<EchoedRequest>(JsonSerializerOptions.Web)!;
            Assert.Equal("GET /admin/status", $"{echoed.Method} {echoed.PathAndQuery}");
            var identity = GatewayFactory.Identity(echoed, audience: service);
            Assert.NotNull(identity);
            Assert.Equal("", identity.WorkspaceId);
            Assert.Equal([InternalScopes.Admin], identity.Scopes);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("not-the-admin-token-0123456789-abcdefghij", null)]
    [InlineData(null, GatewayFactory.BootstrapKey)]
    [InlineData(GatewayFactory.BootstrapKey, null)]
    public async Task Without_the_admin_token_it_is_a_401_in_the_error_envelope_and_no_service_is_asked(string? bearer, string? apiKey)
    {
        int before = fixture.Upstream.Received.Count(r => r.PathAndQuery == "/admin/status");

        var response = await fixture.Gateway.CreateClient().SendAsync(HttpMethod.Get, "/admin/status", bearer: bearer, apiKey: apiKey);

        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Equal(before, fixture.Upstream.Received.Count(r => r.PathAndQuery == "/admin/status"));
    }

    [Fact]
    public async Task A_service_that_does_not_answer_is_listed_as_unavailable_and_the_others_are_still_shown()
    {
        await using var gateway = GatewayFactory.Create(fixture.ConnectionString, fixture.Upstream.Address, EchoUpstream.ClosedAddress(),
            extra: new Dictionary<string, string?> { ["Admin:Token"] = GatewayFactory.AdminToken });

        var response = await gateway.CreateClient().SendAsync(HttpMethod.Get, "/admin/status", bearer: GatewayFactory.AdminToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("/admin/status", status.GetProperty("scheduling").GetProperty("pathAndQuery").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("webhooks").ValueKind);
        var unavailable = Assert.Single(status.GetProperty("unavailable").EnumerateArray());
        Assert.Equal("webhooks", unavailable.GetProperty("service").GetString());
    }
}
