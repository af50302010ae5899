using System.Net;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task Without_its_database_the_gateway_is_not_ready_and_answers_unavailable_not_500()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        await using var gateway = GatewayFactory.Create(database);
        var client = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        // IF EXISTS underneath, so dropping it again when `resources` is disposed is no error.
        await Infrastructure.DropDatabaseAsync(database);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);
        // A key not seen before, so the lookup cannot come from the cache.
        var response = await client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate());
        await response.AssertEnvelopeAsync(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
    }
}
