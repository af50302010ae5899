using System.Security.Cryptography;
using System.Text;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>
/// <c>Idempotency-Key</c> on REST POSTs (docs/api.md#idempotency-key): the first response (2xx or 4xx) is stored with a hash of the
/// request and replayed with <c>Idempotent-Replayed: true</c> for 24 h; the same key with another request is a
/// 422 <c>IDEMPOTENCY_KEY_REUSED</c>; a key whose first request is still running is a 409 (for at most
/// <see cref="IdempotencyKeys.AbandonedAfter"/>). A 5xx is not stored, so the client can retry. Multipart uploads are not covered
/// (their bodies are streamed, not hashed).
/// </summary>
public sealed partial class Idempotency(RequestDelegate next, IdempotencyKeys keys, ILogger<Idempotency> logger)
{
    public const string Header = "Idempotency-Key";

    public async Task InvokeAsync(HttpContext context)
    {
        string? key = context.Request.Headers[Header];
        if (!HttpMethods.IsPost(context.Request.Method) || string.IsNullOrEmpty(key)
            || context.Request.ContentType?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) == true
            // gRPC calls are POSTs too; their answers end in trailers, so GrpcIdempotency keeps them.
            || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            await next(context);
            return;
        }

        IdempotencyKeys.Validate(key, Header);
        string workspaceId = InternalCaller.Current(context).WorkspaceId;
        byte[] hash = await HashAsync(context.Request);
        if (await keys.TakeAsync(workspaceId, key, hash, context.RequestAborted) is { } earlier)
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
            await keys.ForgetAsync(workspaceId, key);
            context.Response.Body = original;
            throw;
        }

        context.Response.Body = original;
        var response = context.Response;
        if (response.StatusCode >= 500)
        {
            await keys.ForgetAsync(workspaceId, key);
        }
        else
        {
            await keys.CompleteAsync(workspaceId, key, response.StatusCode, response.ContentType, response.Headers.Location.ToString(), captured.ToArray());
        }

        captured.Position = 0;
        await captured.CopyToAsync(original, context.RequestAborted);
    }

    private async Task ReplayAsync(HttpContext context, IdempotencyKeys.Stored stored, string key, byte[] hash)
    {
        IdempotencyKeys.EnsureReplayable(stored, hash);
        LogReplaying(key);
        context.Response.StatusCode = stored.StatusCode!.Value;
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
