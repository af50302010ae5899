using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Http;

public sealed class RequestLimitsOptions
{
    public const string Section = "RequestLimits";

    /// <summary>
    /// The largest request body an endpoint takes unless it declares its own limit (<c>IRequestSizeLimitMetadata</c>,
    /// e.g. <c>.WithMetadata(new RequestSizeLimitAttribute(…))</c>) or the body is a multipart upload.
    /// </summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;
}

/// <summary>
/// Caps request bodies (docs/security.md#request-limits: JSON bodies ≤ 1 MiB, 413 <c>PAYLOAD_TOO_LARGE</c>). A declared <c>Content-Length</c>
/// over the limit is refused before anything reads the body; a chunked body is cut off by the server once it passes
/// the limit (Kestrel's <see cref="IHttpMaxRequestBodySizeFeature"/>), which the error envelope maps to the same 413.
/// </summary>
public sealed class RequestBodyLimit(RequestDelegate next, IOptions<RequestLimitsOptions> options)
{
    private readonly long _default = options.Value.MaxBodyBytes;

    public Task InvokeAsync(HttpContext context)
    {
        long? limit = LimitFor(context);
        if (limit is { } max && context.Request.ContentLength > max)
        {
            // The client may still be sending: don't keep the connection for the rest of a body nobody will read.
            context.Response.Headers.Connection = "close";
            return ErrorEnvelope.Write(context, StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE",
                $"The request body is too large: this operation accepts at most {max} bytes.");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        return next(context);
    }

    /// <summary>
    /// The endpoint's own limit when it declares one (null: unlimited); for a multipart upload the server's (an
    /// upload endpoint may raise it for itself before it reads, as the media upload does); else the default.
    /// </summary>
    public long? LimitFor(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>() is { } declared)
        {
            return declared.MaxRequestBodySize;
        }

        return context.Request.HasFormContentType && context.Request.ContentType!.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase)
            ? context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize
            : _default;
    }
}
