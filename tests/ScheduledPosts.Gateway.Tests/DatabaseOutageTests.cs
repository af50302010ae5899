using System.Net;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task Without_its_database_the_gateway_is_not_ready_and_answers_unavailable_not_500()
    {
        string database = await Infrastructure.CreateDatabaseAsync();
        await using var gateway = GatewayFactory.Create(database);
        var client = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        await DropAsync(database);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);
        // A key not seen before, so the lookup cannot come from the cache.
        var response = await client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: ApiKeySecret.Generate());
        await response.AssertEnvelopeAsync(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
    }

    private static async Task DropAsync(string database)
    {
        var builder = new NpgsqlConnectionStringBuilder(database);
        string name = builder.Database!;
        builder.Database = "postgres";
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE {name} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
