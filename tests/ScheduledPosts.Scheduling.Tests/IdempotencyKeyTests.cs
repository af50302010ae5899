using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Idempotency keys under load and after a crash (docs/api.md#idempotency-key).</summary>
public sealed class IdempotencyKeyTests(IdempotencyKeyTests.SmallPoolFactory factory) : IClassFixture<IdempotencyKeyTests.SmallPoolFactory>
{
    /// <summary>A connection pool far smaller than the burst, as a busy deployment's would be relative to its traffic.</summary>
    public sealed class SmallPoolFactory : SchedulingFactory
    {
        public const int PoolSize = 6;

        protected override void Configure(Dictionary<string, string> settings)
            => settings["ConnectionStrings:Postgres"] += $";Maximum Pool Size={PoolSize};Timeout=10";
    }

    [Fact]
    public async Task A_burst_of_keyed_creates_larger_than_the_pool_all_succeed()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var creates = Enumerable.Range(0, 8 * SmallPoolFactory.PoolSize).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts")
            {
                Content = JsonContent.Create(new { caption = $"burst {i}", targets = new[] { new { socialAccountId = account } } }),
            };
            request.Headers.Add("Idempotency-Key", $"burst-{i}");
            var response = await client.SendAsync(request);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        });

        var results = await Task.WhenAll(creates);

        // Were the key's connection held across the handler, the first requests would hold the whole pool while
        // their handlers wait for one more: every one of them would end in 503 UNAVAILABLE.
        Assert.All(results, r => Assert.True(r.StatusCode == HttpStatusCode.Created, $"{(int)r.StatusCode}: {r.Body}"));
    }

    [Fact]
    public async Task A_key_whose_first_request_never_finished_is_free_again_after_a_minute()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        string account = await ConnectAccountAsync(client);
        // What a crash mid-request leaves behind: the key taken, no response stored.
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.OpenAsync();
            await using var pending = new NpgsqlCommand("""
                INSERT INTO scheduling.idempotency_keys (workspace_id, key, request_hash, created_at)
                VALUES (@workspace, 'crashed', '\x00', now() - interval '61 seconds')
                """, connection);
            pending.Parameters.AddWithValue("workspace", workspace);
            await pending.ExecuteNonQueryAsync();
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts")
        {
            Content = JsonContent.Create(new { caption = "after the crash", targets = new[] { new { socialAccountId = account } } }),
        };
        request.Headers.Add("Idempotency-Key", "crashed");
        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("after the crash", (await response.Content.ReadFromJsonAsync<JsonObject>())!["caption"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_key_whose_first_request_is_still_running_is_a_conflict()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        const string body = """{"caption": "still running"}""";
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.OpenAsync();
            // The same request, taken a moment ago and not answered yet.
            await using var pending = new NpgsqlCommand("""
                INSERT INTO scheduling.idempotency_keys (workspace_id, key, request_hash)
                VALUES (@workspace, 'running', @hash)
                """, connection);
            pending.Parameters.AddWithValue("workspace", workspace);
            pending.Parameters.AddWithValue("hash", System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("POST /v1/posts\n" + body)));
            await pending.ExecuteNonQueryAsync();
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "running");
        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("CONFLICT", ErrorCode((await response.Content.ReadFromJsonAsync<JsonObject>())!));
    }
}
