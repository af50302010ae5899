using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Scheduling.Media;
using ScheduledPosts.Scheduling.Retention;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Retention (docs/operations.md#retention): the sweep removes old rows and unused media, one medium that cannot be
/// removed never blocks the rest, media in use is never removed; and the per-workspace media quota.
/// </summary>
public sealed class RetentionTests(RetentionTests.RetentionFactory factory) : IClassFixture<RetentionTests.RetentionFactory>
{
    public const long Quota = 100_000;

    /// <summary>Sweeps only when a test asks (and once at start); storage refuses to delete the media ids in <see cref="Broken"/>.</summary>
    public sealed class RetentionFactory : SchedulingFactory
    {
        public ConcurrentDictionary<string, bool> Broken { get; } = new();

        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Retention:Interval"] = "1.00:00:00";
            settings["Media:WorkspaceQuotaBytes"] = Quota.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton<IMediaStorage>(sp =>
                new FailingStorage(new LocalDirectoryMediaStorage(sp.GetRequiredService<IOptions<MediaOptions>>()), Broken)));
        }

        public Task<SweepResult> SweepAsync() => Services.GetRequiredService<RetentionSweeper>().SweepAsync(CancellationToken.None);
    }

    /// <summary>Local storage whose delete fails with a non-I/O error for some ids (a bug, a storage SDK's own exception).</summary>
    private sealed class FailingStorage(IMediaStorage inner, ConcurrentDictionary<string, bool> broken) : IMediaStorage
    {
        public Task SaveAsync(string mediaId, Stream content, CancellationToken ct) => inner.SaveAsync(mediaId, content, ct);

        public Task<Stream> OpenReadAsync(string mediaId, CancellationToken ct) => inner.OpenReadAsync(mediaId, ct);

        public Task DeleteAsync(string mediaId, CancellationToken ct)
            => broken.ContainsKey(mediaId) ? throw new InvalidOperationException($"storage refuses {mediaId}") : inner.DeleteAsync(mediaId, ct);
    }

    private static byte[] Png(int size = 20)
    {
        byte[] png = new byte[size];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(png, 0);
        return png;
    }

    private static async Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] content)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", "photo.png");
        return await client.PostAsync("/v1/media", form);
    }

    private static async Task<string> UploadedAsync(HttpClient client, int size = 20)
    {
        var response = await UploadAsync(client, Png(size));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static async Task<string> DraftWithMediaAsync(HttpClient client, string account, params string[] mediaIds)
    {
        var created = await client.PostAsJsonAsync("/v1/posts", new { caption = "With media", targets = new[] { new { socialAccountId = account } }, mediaIds });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private async Task<int> ExecuteAsync(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        return await connection.ExecuteAsync(sql, parameters);
    }

    private async Task<T> ScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        return (await connection.ExecuteScalarAsync<T>(sql, parameters))!;
    }

    private bool FileExists(string mediaId) => File.Exists(Path.Combine(factory.MediaDirectory, mediaId));

    private Task<bool> RowExists(string mediaId) => ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM scheduling.media WHERE id = @mediaId)", new { mediaId });

    [Fact]
    public async Task One_orphan_that_cannot_be_removed_blocks_neither_the_other_orphans_nor_the_retention_deletes()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        string account = await ConnectAccountAsync(client);
        string first = await UploadedAsync(client), second = await UploadedAsync(client), broken = await UploadedAsync(client);
        string inUse = await UploadedAsync(client);
        await DraftWithMediaAsync(client, account, inUse);
        // The race of a draft edit attaching media while a delete orphans it leaves an orphan a post still links to.
        await ExecuteAsync("UPDATE scheduling.media SET orphaned_at = now() WHERE id = ANY (@ids)", new { ids = new[] { first, second, broken, inUse } });
        factory.Broken[broken] = true;

        string oldKey = $"old-{Guid.NewGuid():N}", freshKey = $"fresh-{Guid.NewGuid():N}";
        await ExecuteAsync("""
            INSERT INTO scheduling.idempotency_keys (workspace_id, key, request_hash, created_at)
            VALUES (@workspace, @oldKey, '\x00', now() - interval '25 hours'), (@workspace, @freshKey, '\x00', now() - interval '23 hours')
            """, new { workspace, oldKey, freshKey });
        long oldOutbox = await ScalarAsync<long>("""
            INSERT INTO scheduling.outbox (message_type, payload, due_at, created_at, sent_at)
            VALUES ('PostDeleted', '{}', now() - interval '2 days', now() - interval '2 days', now() - interval '25 hours') RETURNING id
            """);
        long freshOutbox = await ScalarAsync<long>("""
            INSERT INTO scheduling.outbox (message_type, payload, due_at, sent_at) VALUES ('PostDeleted', '{}', now(), now() - interval '1 hour') RETURNING id
            """);
        string auditPost = $"pst_{Guid.NewGuid():N}";
        await ExecuteAsync("""
            INSERT INTO scheduling.post_audit (post_id, workspace_id, action, at)
            VALUES (@auditPost, @workspace, 'created', now() - interval '366 days'), (@auditPost, @workspace, 'deleted', now() - interval '364 days')
            """, new { auditPost, workspace });

        var result = await factory.SweepAsync();

        Assert.True(result.MediaFailed >= 1, $"{result}");
        Assert.Equal(0, result.StepsFailed);
        foreach (string removed in new[] { first, second })
        {
            Assert.False(FileExists(removed));
            Assert.False(await RowExists(removed));
        }

        // The medium storage refused stays orphaned for the next sweep; the one in use is orphaned no more.
        Assert.True(FileExists(broken));
        Assert.True(await ScalarAsync<bool>("SELECT orphaned_at IS NOT NULL FROM scheduling.media WHERE id = @broken", new { broken }));
        Assert.True(FileExists(inUse));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/media/{inUse}")).StatusCode);

        Assert.Equal([freshKey], await ScalarsAsync<string>("SELECT key FROM scheduling.idempotency_keys WHERE workspace_id = @workspace", new { workspace }));
        Assert.Equal([freshOutbox], await ScalarsAsync<long>("SELECT id FROM scheduling.outbox WHERE id = ANY (@ids)", new { ids = new[] { oldOutbox, freshOutbox } }));
        Assert.Equal(["deleted"], await ScalarsAsync<string>("SELECT action FROM scheduling.post_audit WHERE post_id = @auditPost", new { auditPost }));

        factory.Broken.TryRemove(broken, out _);
        await factory.SweepAsync();
        Assert.False(FileExists(broken));
        Assert.False(await RowExists(broken));
    }

    private async Task<List<T>> ScalarsAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        return (await connection.QueryAsync<T>(sql, parameters)).AsList();
    }

    [Fact]
    public async Task Media_no_post_uses_is_removed_after_the_window_and_media_in_use_is_kept()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        string neverAttached = await UploadedAsync(client), attached = await UploadedAsync(client), detached = await UploadedAsync(client);
        string recent = await UploadedAsync(client);
        await DraftWithMediaAsync(client, account, attached);
        string draft = await DraftWithMediaAsync(client, account, detached);
        var (status, _) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{draft}", new { mediaIds = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.OK, status);
        await ExecuteAsync("UPDATE scheduling.media SET created_at = now() - interval '25 hours' WHERE id = ANY (@ids)",
            new { ids = new[] { neverAttached, attached, detached } });

        await factory.SweepAsync();

        foreach (string gone in new[] { neverAttached, detached })
        {
            Assert.False(FileExists(gone));
            Assert.False(await RowExists(gone));
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/media/{gone}")).StatusCode);
        }

        foreach (string kept in new[] { attached, recent })
        {
            Assert.True(FileExists(kept));
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/media/{kept}")).StatusCode);
        }

        // Media still in use is not marked either: a post can keep it, another can still take it.
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/posts",
            new { caption = "Reuses it", targets = new[] { new { socialAccountId = account } }, mediaIds = new[] { attached, recent } })).StatusCode);
    }

    [Fact]
    public async Task An_upload_over_the_workspace_quota_is_refused_and_stores_nothing()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        var filesBefore = Directory.GetFiles(factory.MediaDirectory).ToHashSet();

        var tooLarge = await UploadAsync(client, Png((int)Quota + 1));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        var error = (await tooLarge.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("PAYLOAD_TOO_LARGE", ErrorCode(error));
        Assert.Contains("quota", error["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        await UploadedAsync(client, 60_000);
        var overTheRest = await UploadAsync(client, Png(60_000));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, overTheRest.StatusCode);
        Assert.Equal(60_000, await ScalarAsync<long>("SELECT sum(size_bytes)::bigint FROM scheduling.media WHERE workspace_id = @workspace", new { workspace }));
        Assert.Single(Directory.GetFiles(factory.MediaDirectory).Except(filesBefore));

        // Another workspace has its own quota.
        await UploadedAsync(factory.Client($"ws_{Guid.NewGuid():N}"), 60_000);
    }

    [Fact]
    public async Task Concurrent_uploads_that_each_fit_but_not_together_cannot_all_pass_the_quota()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var clients = Enumerable.Range(0, 5).Select(_ => factory.Client(workspace)).ToList();
        var filesBefore = Directory.GetFiles(factory.MediaDirectory).ToHashSet();

        var responses = await Task.WhenAll(clients.Select(c => UploadAsync(c, Png(30_000))));

        Assert.Equal(3, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(2, responses.Count(r => r.StatusCode == HttpStatusCode.RequestEntityTooLarge));
        Assert.Equal(90_000, await ScalarAsync<long>("SELECT sum(size_bytes)::bigint FROM scheduling.media WHERE workspace_id = @workspace", new { workspace }));
        Assert.Equal(3, Directory.GetFiles(factory.MediaDirectory).Except(filesBefore).Count());
    }
}
