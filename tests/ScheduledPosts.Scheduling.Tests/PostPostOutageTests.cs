using System.Net;
using Npgsql;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The last row of PostPost's delete error table: the database fails, the client gets a 500
/// <c>"Failed to delete post group"</c>, nothing changed, and a retry once the database is back deletes the group.
/// A class of its own: its database refuses connections for a while.
/// </summary>
public sealed class PostPostOutageTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    [Fact]
    public async Task A_delete_while_the_database_is_away_is_PostPosts_500_changes_nothing_and_a_retry_deletes()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        string id = (await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1)))["id"]!.GetValue<string>();

        await AcceptConnectionsAsync(false);
        HttpStatusCode failedStatus;
        System.Text.Json.Nodes.JsonObject failed;
        try
        {
            (failedStatus, failed) = await SendAsync(client, HttpMethod.Delete, $"/api/v1/delete-post/{id}");
        }
        finally
        {
            await AcceptConnectionsAsync(true);
        }

        Assert.Equal(HttpStatusCode.InternalServerError, failedStatus);
        Assert.Equal("""{"error":"Failed to delete post group"}""", failed.ToJsonString());
        var (got, post) = await SendAsync(client, HttpMethod.Get, $"/v1/posts/{id}");
        Assert.Equal(HttpStatusCode.OK, got);
        Assert.Equal("scheduled", Status(post));

        var (retried, deleted) = await SendAsync(client, HttpMethod.Delete, $"/api/v1/delete-post/{id}");
        Assert.Equal(HttpStatusCode.OK, retried);
        Assert.Equal("""{"success":true}""", deleted.ToJsonString());
    }

    /// <summary>Makes the service's database refuse new connections and ends the open ones (or lets it accept again).</summary>
    private async Task AcceptConnectionsAsync(bool accept)
    {
        var database = new NpgsqlConnectionStringBuilder(factory.ConnectionString);
        string name = database.Database!;
        database.Database = "postgres";
        database.Pooling = false;
        await using var admin = new NpgsqlConnection(database.ConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {(accept ? "true" : "false")};" +
            (accept ? "" : $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"),
            admin);
        await command.ExecuteNonQueryAsync();
    }
}
