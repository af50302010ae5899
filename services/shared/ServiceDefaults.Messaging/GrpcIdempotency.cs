using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.ServiceDefaults.Messaging;

/// <summary>
/// <c>idempotency-key</c> metadata on the public gRPC services, by REST's rules (docs/api.md#idempotency-key): the first
/// answer — the response message, or the error the core refused the call with — is stored with a hash of the method and
/// request message and replayed for 24 h (with <c>idempotent-replayed: true</c> in the response headers); the same key
/// with another request is <c>IDEMPOTENCY_KEY_REUSED</c>. A call that failed otherwise is forgotten, so it can be retried.
/// </summary>
public sealed partial class GrpcIdempotency(IdempotencyKeys keys, ILogger<GrpcIdempotency> logger) : Interceptor
{
    public const string MetadataKey = "idempotency-key";
    private const string MessageType = "application/grpc";
    private const string ErrorType = "application/vnd.scheduledposts.error+json";

    private sealed record StoredError(string Code, string Message, IReadOnlyList<ValidationIssue>? Issues);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        string? key = context.RequestHeaders.GetValue(MetadataKey);
        if (string.IsNullOrEmpty(key) || request is not IMessage message)
        {
            return await continuation(request, context);
        }

        IdempotencyKeys.Validate(key, MetadataKey);
        string workspaceId = InternalCaller.Current(context.GetHttpContext()).WorkspaceId;
        byte[] hash = Hash(context.Method, message);
        if (await keys.TakeAsync(workspaceId, key, hash, context.CancellationToken) is { } earlier)
        {
            IdempotencyKeys.EnsureReplayable(earlier, hash);
            LogReplaying(key);
            await context.WriteResponseHeadersAsync(new Metadata { { "idempotent-replayed", "true" } });
            if (earlier.ContentType == ErrorType)
            {
                var error = JsonSerializer.Deserialize<StoredError>(earlier.Body)!;
                throw new ApiException(earlier.StatusCode!.Value, error.Code, error.Message, error.Issues);
            }

            var replayed = Activator.CreateInstance<TResponse>();
            ((IMessage)replayed).MergeFrom(earlier.Body ?? []);
            return replayed;
        }

        TResponse response;
        try
        {
            response = await continuation(request, context);
        }
        catch (ApiException error) when (error.Status < 500)
        {
            await keys.CompleteAsync(workspaceId, key, error.Status, ErrorType, null,
                JsonSerializer.SerializeToUtf8Bytes(new StoredError(error.Code, error.Message, error.Issues)));
            throw;
        }
        catch
        {
            await keys.ForgetAsync(workspaceId, key);
            throw;
        }

        await keys.CompleteAsync(workspaceId, key, StatusCodes.Status200OK, MessageType, null, ((IMessage)response).ToByteArray());
        return response;
    }

    // The same key must come with the same call: method and request message.
    private static byte[] Hash(string method, IMessage request)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"gRPC {method}\n"));
        hash.AppendData(request.ToByteArray());
        return hash.GetHashAndReset();
    }

    [LoggerMessage(1, LogLevel.Information, "Replaying the answer to idempotency-key {Key}")]
    private partial void LogReplaying(string key);
}
