using System.Text;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Http;

/// <summary>
/// Endpoint metadata of a route whose body is forwarded unread to a service that checks it itself (the gateway's
/// proxy routes): <see cref="Utf8JsonBody"/> leaves it alone, so it streams through.
/// </summary>
public sealed class BodyCheckedDownstream
{
    public static readonly BodyCheckedDownstream Instance = new();
}

/// <summary>
/// A JSON body must be UTF-8 (RFC 8259) throughout: System.Text.Json checks the strings it reads, but skips the value
/// of a property it does not know without looking, so <c>{"unknown": "&lt;bytes that are not UTF-8&gt;"}</c> would
/// pass as <c>{}</c>. Such a body is a 400 before any endpoint sees it. The body is buffered (it is small: see
/// <see cref="RequestBodyLimit"/>) and rewound for the endpoint.
/// </summary>
public sealed class Utf8JsonBody(RequestDelegate next)
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        bool hasBody = request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0);
        if (!hasBody || !request.HasJsonContentType() || context.GetEndpoint()?.Metadata.GetMetadata<BodyCheckedDownstream>() is not null)
        {
            await next(context);
            return;
        }

        request.EnableBuffering();
        var decoder = Strict.GetDecoder();
        byte[] buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                decoder.GetCharCount(buffer, 0, read, flush: false);
            }

            decoder.GetCharCount([], 0, 0, flush: true);
        }
        catch (DecoderFallbackException)
        {
            await ErrorEnvelope.Write(context, StatusCodes.Status400BadRequest, "BAD_REQUEST", "The request body is not valid UTF-8.");
            return;
        }

        request.Body.Position = 0;
        await next(context);
    }
}
