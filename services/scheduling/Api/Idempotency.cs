using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>
/// <c>Idempotency-Key</c> on POSTs (docs/api.md#idempotency-key): the first response (2xx or 4xx) is stored with a hash of the
/// request and replayed with <c>Idempotent-Replayed: true</c> for 24 h; the same key with another request is a
/// 422 <c>IDEMPOTENCY_KEY_REUSED</c>; a key whose first request is still running is a 409 (for at most
/// <see cref="AbandonedAfter"/>). A 5xx is not stored, so the client can retry. Multipart uploads are not covered
/// (their bodies are streamed, not hashed).
/// </summary>
public sealed partial class Idempotency(RequestDelegate next, NpgsqlDataSource dataSource, ILogger<Idempotency> logger)
{
    public const string Header = "Idempotency-Key";
    private const int MaxKeyLength = 255;

    /// <summary>A key still pending after this long belongs to a request that will never finish (its process died).</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(1);

    private sealed record Stored(byte[] RequestHash, int? StatusCode, string? ContentType, string? Location, byte[]? Body);

    public async Task InvokeAsync(HttpContext context)
    {
        string? key = context.Request.Headers[Header];
        if (!HttpMethods.IsPost(context.Request.Method) || string.IsNullOrEmpty(key)
            || context.Request.ContentType?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) == true)
        {
            await next(context);
            return;
        }

        if (key.Length > MaxKeyLength || key.Any(char.IsControl))
        {
            throw ApiException.BadRequest($"Idempotency-Key must be at most {MaxKeyLength} printable characters.");
        }

        string workspaceId = InternalCaller.Current(context).WorkspaceId;
        byte[] hash = await HashAsync(context.Request);
        Stored? earlier = null;
        // A connection only per step, never across the handler (which opens its own): held for the whole request, a
        // burst of keyed POSTs would take the pool from the handlers, and from the publisher's claims.
        await using (var connection = await dataSource.OpenConnectionAsync(context.RequestAborted))
        {
            // An expired key, or one whose first request never finished (a crash), is free again.
            await connection.ExecuteAsync("""
                DELETE FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key
                  AND (created_at < now() - interval '24 hours' OR (status_code IS NULL AND created_at < now() - @abandonedAfter))
                """, new { workspaceId, key, abandonedAfter = AbandonedAfter });
            bool first = await connection.ExecuteAsync(
                "INSERT INTO idempotency_keys (workspace_id, key, request_hash) VALUES (@workspaceId, @key, @hash) ON CONFLICT DO NOTHING",
                new { workspaceId, key, hash }) == 1;
            if (!first)
            {
                earlier = await connection.QuerySingleAsync<Stored>(
                    "SELECT request_hash, status_code, content_type, location, body FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key",
                    new { workspaceId, key });
            }
        }

        if (earlier is not null)
        {
            await ReplayAsync(context, earlier, key, hash);
            return;
        }

        await RecordAsync(context, workspaceId, key);
    }

    private async Task RecordAsync(HttpContext context, string workspaceId, string key)
    {
        var original = context.Response.Body;
        using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            try
            {
                await next(context);
            }
            catch (ApiException error)
            {
                // Rendered here rather than by the outer handler, so the first response can be stored as sent.
                await ErrorEnvelope.Write(context, error.Status, error.Code, error.Message, error.Issues);
            }
        }
        catch
        {
            await ForgetAsync(workspaceId, key);
            context.Response.Body = original;
            throw;
        }

        context.Response.Body = original;
        var response = context.Response;
        if (response.StatusCode >= 500)
        {
            await ForgetAsync(workspaceId, key);
        }
        else
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteAsync("""
                UPDATE idempotency_keys SET status_code = @StatusCode, content_type = @ContentType, location = @location, body = @body
                WHERE workspace_id = @workspaceId AND key = @key
                """, new { response.StatusCode, response.ContentType, location = response.Headers.Location.ToString(), body = captured.ToArray(), workspaceId, key });
        }

        captured.Position = 0;
        await captured.CopyToAsync(original, context.RequestAborted);
    }

    // A failed first request leaves nothing behind, so the client can try again with the same key.
    private async Task ForgetAsync(string workspaceId, string key)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("DELETE FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key", new { workspaceId, key });
    }

    private async Task ReplayAsync(HttpContext context, Stored stored, string key, byte[] hash)
    {
        if (!stored.RequestHash.AsSpan().SequenceEqual(hash))
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used for a different request.");
        }

        if (stored.StatusCode is not { } status)
        {
            throw ApiException.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.");
        }

        LogReplaying(key);
        context.Response.StatusCode = status;
        context.Response.ContentType = stored.ContentType;
        if (!string.IsNullOrEmpty(stored.Location))
        {
            context.Response.Headers.Location = stored.Location;
        }

        context.Response.Headers["Idempotent-Replayed"] = "true";
        await context.Response.Body.WriteAsync(stored.Body ?? [], context.RequestAborted);
    }

    // The same key must come with the same request: method, path and body.
    private static async Task<byte[]> HashAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}\n"));
        byte[] buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0)
        {
            hash.AppendData(buffer, 0, read);
        }

        request.Body.Position = 0;
        return hash.GetHashAndReset();
    }

    [LoggerMessage(1, LogLevel.Information, "Replaying the response to Idempotency-Key {Key}")]
    private partial void LogReplaying(string key);
}
